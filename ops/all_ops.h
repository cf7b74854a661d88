// Every op family's public API in one include, for model scripts.
#ifndef MINIGRAPH_OPS_ALL_OPS_H_
#define MINIGRAPH_OPS_ALL_OPS_H_

#include "framework/autograd.h"
#include "framework/op_registry.h"
#include "framework/tensor.h"
#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/fused.h"
#include "ops/loss.h"
#include "ops/matmul.h"
#include "ops/nn.h"
#include "ops/optimizer.h"
#include "ops/reduction.h"
#include "ops/shape_ops.h"

#endif  // MINIGRAPH_OPS_ALL_OPS_H_
