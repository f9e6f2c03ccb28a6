# Shared by the PyTorch templates (image-cnn, image-timm, text-transformer), after common.py: the
# device, seeding and thread set-up, bfloat16 autocast on CUDA, and the training loop, which plans
# its epochs from the first epoch's time to fit the budget and stops before the deadline.
import math

import torch

CUDA = torch.cuda.is_available()
DEVICE = torch.device("cuda" if CUDA else "cpu")
# Two OpenMP threads on two shared cores stall for seconds at a time (a 20-40x slower epoch); a
# small network loses little with one.
SMALL_NETWORK_THREADS = N_JOBS if N_JOBS > 2 else 1


def seed_torch():
    """Seeds numpy and torch; on CUDA, deterministic cuDNN kernels."""
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    if CUDA:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def cpu_threads(threads):
    """torch's threads when it runs on CPU (on CUDA they only feed the GPU)."""
    if not CUDA:
        torch.set_num_threads(threads)


def device_name():
    """The GPU's name, or the CPU with the threads torch uses, for the progress lines."""
    return torch.cuda.get_device_name(0) if CUDA else f"CPU ({N_JOBS} cores, {torch.get_num_threads()} used by torch)"


def autocast(enabled=True):
    """bfloat16 autocast on CUDA (when `enabled`); on CPU, float32 as it is."""
    return torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=CUDA and enabled)


def batch_size_for(n, largest, rows_per_step):
    """Smaller batches for small data: more steps per epoch at the same cost."""
    return int(min(largest, max(16, 2 ** round(math.log2(max(n, 1) / rows_per_step)))))


def parameter_groups(model, weight_decay):
    """Weight decay on the weight matrices (convolutions, linear layers, embeddings) only, not on
    biases and normalisation layers."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


class WarmupCosine:
    """The learning rate of each optimizer step: a linear warm-up from 10% over the first epoch,
    then a cosine to 1% of `rate` over the epochs planned after it."""

    def __init__(self, optimizer, rate):
        self.optimizer, self.rate, self.decay_steps = optimizer, rate, None

    def set_rate(self, rate):
        for group in self.optimizer.param_groups:
            group["lr"] = rate

    def before_step(self, step, batches, steps_per_epoch):
        if self.decay_steps is None:
            self.set_rate(self.rate * (0.1 + 0.9 * batches / steps_per_epoch))
        else:
            progress = min(1.0, (step - steps_per_epoch) / self.decay_steps)
            self.set_rate(self.rate * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))))

    def planned(self, epochs_left, steps_per_epoch):
        self.decay_steps = max(1, epochs_left * steps_per_epoch)

    def after_epoch(self):
        pass


def train_epochs(model, optimizer, schedule, loss_of, n, batch_size, deadline, generator, max_epochs, min_steps,
                 what="rows", drop_last=True, clip=None, warmup_steps=3, predict_rows=0, predict_cost=0.0):
    """Trains for up to max(max_epochs, the epochs of min_steps optimizer steps) epochs of `n` rows
    in a seeded order, `loss_of(index)` giving the loss of one batch (a CPU tensor of row indexes).
    After the first epoch the epochs that fit before `deadline` are planned from its time, less
    its first `warmup_steps` steps (0: the whole epoch, one epoch to spare), keeping time to
    predict `predict_rows` rows (each `predict_cost` of a training step's time per row).
    `schedule` sets the learning rate: before_step each step, planned once the epochs are known,
    after_epoch at the end of each later epoch. Stops when the deadline passes, or when the next
    epoch would not fit. drop_last: full batches only, else the last partial batch too (a batch
    of one is skipped: batch norm needs two rows)."""
    steps_per_epoch = max(1, n // batch_size)
    most = max(max_epochs, math.ceil(min_steps / steps_per_epoch))
    starts = range(0, steps_per_epoch * batch_size if drop_last else n, batch_size)
    say(f"training on {n} {what}, batches of {batch_size}, up to {most} epochs")
    epochs, started, step, planned = most, time.monotonic(), 0, False
    epoch = 0
    while epoch < epochs:
        epoch_start = time.monotonic()
        model.train()
        order = torch.randperm(n, generator=generator)
        total, batches, seen, timed = 0.0, 0, 0, None
        for begin in starts:
            index = order[begin:begin + batch_size]
            if len(index) < 2:
                continue
            schedule.before_step(step, batches, steps_per_epoch)
            if warmup_steps and batches == min(warmup_steps, steps_per_epoch // 2):
                timed = (time.monotonic(), batches)  # the first steps include CUDA's warm-up
            loss = loss_of(index)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            total += loss.item() * len(index)
            seen += len(index)
            batches += 1
            step += 1
            if time.monotonic() > deadline:
                break
        epoch += 1
        seconds = time.monotonic() - epoch_start
        if not planned:
            # Plan the epochs that fit the budget with one epoch to spare, keeping time for
            # predicting (forward passes only, a fraction of a training step per row).
            per_step = (time.monotonic() - timed[0]) / max(1, batches - timed[1]) if timed else seconds / max(1, batches)
            per_epoch = per_step * len(starts) if timed else seconds
            spare = deadline - time.monotonic() - predict_cost * per_step / batch_size * predict_rows - per_epoch
            epochs = max(1, min(most, epoch + int(spare / max(per_epoch, 1e-3))))
            if epochs < most:
                warn(f"time budget: training {epochs} of {most} epochs ({per_epoch:.1f} s each)")
            schedule.planned(epochs - epoch, steps_per_epoch)
            planned = True
        else:
            schedule.after_epoch()
        if epoch == 1 or epoch % max(5, epochs // 10) == 0 or epoch == epochs:
            say(f"epoch {epoch}/{epochs}: training loss {total / max(1, seen):.4f} ({seconds:.1f} s)")
        if epoch < epochs and time.monotonic() + 1.5 * seconds > deadline:
            warn(f"time budget: stopping after epoch {epoch} of {epochs}")
            break
    say(f"trained {epoch} epochs in {time.monotonic() - started:.1f} s")
