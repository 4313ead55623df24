// Package study measures how much each fine-tuning method learns and how
// much it forgets, on the user's own model and data.
//
// A study trains every method (full fine-tuning, each registered adapter
// method, and COFT as a variant of OFT) at a matched trainable-parameter
// budget, over a per-method learning-rate grid and several seeds, with the
// same data order, steps and schedule. Each run is an ordinary
// finetune.Run output directory under the study directory
// (runs/<method>-<size>-lr<lr>-s<seed>); every checkpoint (one per
// evaluation interval) and the final artefact are evaluated on the task's
// evaluation data and on retain data — general text whose loss measures
// forgetting — so each run is a trajectory (Run.Points), not a point.
//
// A study directory is resumable: a finished run leaves a marker file
// (study_run.json) holding its points, a run killed half way is resumed from
// its newest checkpoint, and the same settings reproduce the same numbers
// bit for bit. Once a run is evaluated, its checkpoints keep their weights
// but (except the newest) not the optimizer state only resuming needs. Plan lists the runs as independent `orthotune train` command
// lines, so that a scheduler (a Slurm array, a Kubernetes indexed Job, GNU
// parallel) can train them and Compare collect them. A run being trained
// holds a lock on its directory (internal/runlock: a heartbeat file that
// works across machines sharing the directory), so Compare never trains a
// run another process is training: it trains the others, then waits for
// those, collecting each as it finishes and training any whose process
// stopped. Several Compare processes over one shared study directory thus
// split its runs between them.
//
// Compare writes compare.json (settings, chosen sizes, base losses, every
// run and point), compare.csv (one row per run and evaluation point) and
// report.md (the table; the analysis adds the frontier and a conclusion).
package study
