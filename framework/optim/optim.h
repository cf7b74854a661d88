// Training utilities in one include: optimizers (AdamW, SGD), gradient
// clipping and learning-rate schedules.
#ifndef MINIGRAPH_FRAMEWORK_OPTIM_OPTIM_H_
#define MINIGRAPH_FRAMEWORK_OPTIM_OPTIM_H_

#include "framework/optim/clip_grad.h"
#include "framework/optim/optimizer.h"
#include "framework/optim/schedule.h"

#endif  // MINIGRAPH_FRAMEWORK_OPTIM_OPTIM_H_
