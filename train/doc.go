// Package train fine-tunes a model: AdamW with decoupled weight decay,
// constant, linear and cosine learning-rate schedules with linear warmup,
// gradient accumulation weighted by target tokens, clipping by global norm,
// periodic evaluation (loss and perplexity), and checkpoints that hold the
// trainable weights, the optimizer's moments, every random generator's state
// and the data position, written to a temporary directory and renamed into
// place, so that a run resumed from step k finishes bit-identical to one
// that was never interrupted.
//
// What is trained is a Target: the parameters of a PEFT adapter
// (AdapterTarget) or every weight of the model (FullTarget, for
// comparison). The numbers follow PyTorch and the Hugging Face Trainer:
// torch.optim.AdamW's update, transformers' schedule shapes (warmup from a
// learning rate of 0 at the first update), torch.nn.utils.clip_grad_norm_,
// and the mean next-token loss over every target token of an accumulated
// step (what transformers does when it knows num_items_in_batch).
//
// With more than one thread a step is data-parallel (Parallel): replicas of
// the model, one per core, share its weights and split each batch's rows,
// and their gradients are summed before the optimizer steps; the result is
// the serial step's up to the order of floating-point sums.
package train
