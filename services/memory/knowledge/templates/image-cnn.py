"""mlzero program template: a small CNN trained from scratch with PyTorch.

Lists the images (one subfolder per class, or a table with a path and a label
column) and loads each with Pillow at 32x32 in one mode (RGB, or L when every
image is grayscale). Three conv-batchnorm-ReLU-maxpool blocks, global average
pooling and a small dense head learn with Adam and a cosine learning rate on
a seeded, stratified holdout, with random shifts (padding + crop) and
horizontal flips, so objects anywhere in the frame are recognised. Training
stops early when the next epoch would not fit the time budget. The validation
score is printed as one MLZERO_RESULT line, and the trained model (no refit)
predicts the test images, averaging each image with its mirror.

GPU variant: on CUDA (torch.cuda.is_available()) the network is twice as wide
(64-128-256 channels), batches are larger and up to twice the epochs run; on
CPU it uses MLZERO_CPUS threads and 32-64-128 channels. reduce_level >= 1
halves the width and the epochs and caps the images per class.
"""
# mlzero:include common.py


# mlzero:include image_io.py


# mlzero:include torch_train.py


# mlzero:include torch_images.py


from torch import nn
from torch.nn import functional as F

SIZE = 32
# Channels of the first conv block; the second and third have 2x and 4x.
WIDTH = (64 if CUDA else 32) // (2 if REDUCE >= 1 else 1)
MAX_EPOCHS = (80 if CUDA else 40) // {0: 1, 1: 2}.get(REDUCE, 4)
BATCH = 128 if CUDA else 64
# Small data sets need more passes: train at least this many optimizer steps when time allows.
MIN_STEPS = {0: 1200 if CUDA else 600, 1: 400}.get(REDUCE, 200)
# Images per class at most: fewer after an out-of-memory failure or a timeout.
PER_CLASS = {0: 20_000 if CUDA else 5000, 1: 2000}.get(REDUCE, 500)
PAD = 4


class SmallCNN(nn.Module):
    def __init__(self, channels, n_classes, width):
        super().__init__()
        blocks, previous = [], channels
        for out in (width, width * 2, width * 4):
            blocks += [nn.Conv2d(previous, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            previous = out
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(previous, 128), nn.ReLU(inplace=True), nn.Linear(128, n_classes),
        )

    def forward(self, x):
        return self.head(self.features(x))


def augment(batch, generator):
    """Random shifts of up to PAD pixels (replicate padding, then a random crop) and horizontal flips."""
    n = batch.shape[0]
    padded = F.pad(batch, (PAD, PAD, PAD, PAD), mode="replicate")
    offsets = torch.randint(0, 2 * PAD + 1, (n, 2), generator=generator)
    shifted = torch.stack([padded[i, :, y:y + SIZE, x:x + SIZE] for i, (y, x) in enumerate(offsets.tolist())])
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip.view(n, 1, 1, 1).to(batch.device), shifted.flip(3), shifted)


class EpochCosine:
    """Adam's rate: as set over the first epoch, then a cosine to 1% over the epochs planned
    after it, one step an epoch."""

    def __init__(self, optimizer):
        self.optimizer, self.cosine = optimizer, None

    def before_step(self, step, batches, steps_per_epoch):
        pass

    def planned(self, epochs_left, steps_per_epoch):
        self.cosine = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=max(1, epochs_left), eta_min=2e-5)

    def after_epoch(self):
        self.cosine.step()


def train(model, images, target, deadline, generator):
    """Adam with a cosine schedule; the epoch count is fixed after the first epoch from its time."""
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3, weight_decay=5e-4)
    labels = torch.as_tensor(np.asarray(target), dtype=torch.long)

    def loss_of(index):
        batch = augment(images[index], generator).to(DEVICE, non_blocking=True)
        return F.cross_entropy(model(batch), labels[index].to(DEVICE, non_blocking=True))

    n = len(labels)
    train_epochs(
        model, optimizer, EpochCosine(optimizer), loss_of, n, batch_size_for(n, BATCH, 8), deadline, generator,
        MAX_EPOCHS, MIN_STEPS, what="images", drop_last=False, warmup_steps=0,
    )


def main():
    start, deadline = start_clock()
    seed_torch()
    cpu_threads(N_JOBS)
    data = load_labelled_images(start, deadline, PER_CLASS, SIZE)
    model = SmallCNN(data.images.shape[1], data.n_classes, WIDTH).to(DEVICE)
    generator = torch.Generator().manual_seed(SEED)
    train(model, data.images[data.train_index], data.y_train, deadline - data.reserve, generator)
    report_validation(model, data, f"SmallCNN({WIDTH}-{2 * WIDTH}-{4 * WIDTH}, {'cuda' if CUDA else 'cpu'})")
    predict_test_images(model, data, deadline)


if __name__ == "__main__":
    main()
