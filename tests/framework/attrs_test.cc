#include "framework/attrs.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace minigraph {
namespace {

using ::testing::HasSubstr;

std::vector<AttrDef> Defs() {
  return {{"axis", AttrType::kInt, AttrValue(int64_t{-1}), ""},
          {"scale", AttrType::kFloat, std::nullopt, ""},
          {"shape", AttrType::kShape, AttrValue(ShapeAttr{{2, -1}}), ""}};
}

TEST(AttrsTest, FillsDefaultsInDeclarationOrder) {
  Attrs attrs{{"scale", 0.5}};
  ASSERT_TRUE(ValidateAttrs(Defs(), "op", attrs).ok());
  EXPECT_EQ(attrs.GetInt("axis"), -1);
  EXPECT_EQ(attrs.GetFloat("scale"), 0.5);
  EXPECT_EQ(attrs.GetShape("shape"), (std::vector<int64_t>{2, -1}));
  EXPECT_EQ(attrs.ToString(), "axis=-1, scale=0.5, shape=(2, -1)");
  Attrs same{
      {"shape", ShapeAttr{{2, -1}}}, {"axis", int64_t{-1}}, {"scale", 0.5}};
  ASSERT_TRUE(ValidateAttrs(Defs(), "op", same).ok());
  EXPECT_TRUE(attrs == same);
}

TEST(AttrsTest, ConvertsIntsWhereUnambiguous) {
  Attrs attrs{{"scale", int64_t{3}}, {"shape", std::vector<int64_t>{4}}};
  ASSERT_TRUE(ValidateAttrs(Defs(), "op", attrs).ok());
  EXPECT_EQ(attrs.GetFloat("scale"), 3.0);
  EXPECT_EQ(attrs.GetShape("shape"), (std::vector<int64_t>{4}));
}

TEST(AttrsTest, ErrorsNameTheAttribute) {
  Attrs missing;
  EXPECT_THAT(ValidateAttrs(Defs(), "f (node 'n')", missing).message(),
              HasSubstr("f (node 'n'): missing required attribute 'scale'"));
  Attrs wrong{{"scale", 1.0}, {"axis", true}};
  EXPECT_THAT(ValidateAttrs(Defs(), "f", wrong).message(),
              HasSubstr("attribute 'axis' must be int, got bool true"));
}

TEST(AttrsTest, MisreadDies) {
  Attrs attrs{{"axis", int64_t{1}}};
  EXPECT_DEATH(attrs.GetFloat("axis"), "not validated");
}

}  // namespace
}  // namespace minigraph
