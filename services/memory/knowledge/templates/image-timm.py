"""mlzero program template: a timm ResNet trained from scratch (GPU variant of image-cnn).

Lists the images (one subfolder per class, or a table with a path and a label
column) and loads each with Pillow in one mode (RGB, or L when every image is
grayscale): 64x64 on a GPU, 32x32 on CPU. timm.create_model builds a ResNet
with pretrained=False (random weights; nothing is downloaded, HF_HUB_OFFLINE
is set before timm loads), its 7x7 stride-2 stem replaced by a 3x3 stride-1
convolution so that small images keep their detail. On CUDA it is ResNet-18
(64-512 channels) with bfloat16 autocast and channels_last tensors; on CPU
(torch.cuda.is_available() false) a ResNet-10 at a quarter of the width, so
it still trains in a minute. AdamW with a one-epoch warm-up and a cosine
learning rate, label smoothing, random shifts (padding + crop) and horizontal
flips on a seeded, stratified holdout; the epochs are planned from the first
epoch's time to fit the budget. The validation score is printed as one
MLZERO_RESULT line, and the trained model (no refit) predicts the test images,
averaging each image with its mirror. reduce_level >= 1 halves the width, the
batch and the epochs and caps the images per class; reduce_level 2 also
trains at 32x32 on CUDA.
"""
# mlzero:include common.py


# mlzero:include image_io.py


# Random weights only: the hub must never be asked for a checkpoint.
os.environ["HF_HUB_OFFLINE"] = "1"


# mlzero:include torch_train.py


# mlzero:include torch_images.py


import timm
from torch import nn
from torch.nn import functional as F

SIZE = 64 if CUDA and REDUCE < 2 else 32
# Channels of the first stage; the next three have 2x, 4x and 8x. One block per stage on CPU.
WIDTH = (64 if CUDA else 16) // (2 if REDUCE >= 1 else 1)
LAYERS = (2, 2, 2, 2) if CUDA and REDUCE == 0 else (1, 1, 1, 1)
MAX_EPOCHS = (60 if CUDA else 40) // {0: 1, 1: 2}.get(REDUCE, 4)
BATCH = (256 if CUDA else 64) // (2 if REDUCE >= 1 else 1)
# Small data sets need more passes: train at least this many optimizer steps when time allows.
MIN_STEPS = {0: 2000 if CUDA else 600, 1: 400}.get(REDUCE, 200)
# Images per class at most: fewer after an out-of-memory failure or a timeout.
PER_CLASS = {0: 10_000 if CUDA else 5000, 1: 2000}.get(REDUCE, 500)
PAD = SIZE // 8
LEARNING_RATE = 2e-3


def make_model(channels, n_classes):
    """timm's ResNet from random weights, its stem one 3x3 stride-1 convolution before the
    max-pool: the last stage sees 4x4 at 64x64, as CIFAR ResNets do at 32x32. The deep stem is
    asked for only to size the stem's batch norm (2 x stem_width = WIDTH channels; the plain
    stem has 64 whatever the width). The last batch norm of each block starts at one, not zero
    (zero_init_last): from scratch on little data, zero makes the first hundreds of steps idle."""
    model = timm.create_model(
        "resnet18", pretrained=False, num_classes=n_classes, in_chans=channels, layers=LAYERS,
        channels=tuple(WIDTH * k for k in (1, 2, 4, 8)), stem_type="deep", stem_width=WIDTH // 2,
        zero_init_last=False, drop_rate=0.2,
    )
    model.conv1 = nn.Conv2d(channels, WIDTH, 3, stride=1, padding=1, bias=False)
    return model


def model_name():
    depth = 2 * sum(LAYERS) + 2
    precision = ", bf16, channels_last" if CUDA else ""
    return f"timm ResNet-{depth} ({WIDTH}-{8 * WIDTH} channels, {SIZE}x{SIZE}, from scratch, {DEVICE.type}{precision})"


def augment(batch, generator):
    """Random shifts of up to PAD pixels (replicate padding, then a random crop) and horizontal
    flips, as one gather for the whole batch; the result is channels_last in memory."""
    n, device = batch.shape[0], batch.device
    padded = F.pad(batch, (PAD, PAD, PAD, PAD), mode="replicate")
    offsets = torch.randint(0, 2 * PAD + 1, (n, 2), generator=generator).to(device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(device)
    steps = torch.arange(SIZE, device=device)
    rows = offsets[:, :1] + steps
    cols = offsets[:, 1:] + steps
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    # Advanced indexes around a slice put their dimensions first: N x SIZE x SIZE x channels.
    shifted = padded[torch.arange(n, device=device)[:, None, None], :, rows[:, :, None], cols[:, None, :]]
    return shifted.permute(0, 3, 1, 2)


def train(model, images, target, deadline, generator, predict_rows):
    """AdamW: a linear warm-up over the first epoch, then a cosine to 1% of the rate over the
    epochs planned from the first epoch's time, keeping time to predict `predict_rows` images
    (a forward pass twice, about 0.7 of a training step per image). Weight decay on the
    convolution and linear weights only."""
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.05), lr=LEARNING_RATE)
    labels = torch.as_tensor(np.asarray(target), dtype=torch.long).to(DEVICE)

    def loss_of(index):
        index = index.to(DEVICE)
        batch = augment(images[index], generator).float()
        with autocast():
            return F.cross_entropy(model(batch).float(), labels[index], label_smoothing=0.1)

    n = len(labels)
    train_epochs(
        model, optimizer, WarmupCosine(optimizer, LEARNING_RATE), loss_of, n, batch_size_for(n, BATCH, 8), deadline, generator,
        MAX_EPOCHS, MIN_STEPS, what="images", predict_rows=predict_rows, predict_cost=0.7,
    )


def main():
    start, deadline = start_clock()
    seed_torch()
    cpu_threads(SMALL_NETWORK_THREADS)
    data = load_labelled_images(start, deadline, PER_CLASS, SIZE)
    # On a GPU the training images live there, in half precision: no copy per batch.
    train_images = data.images[data.train_index].to(DEVICE, dtype=torch.float16 if CUDA else torch.float32)

    model = make_model(data.images.shape[1], data.n_classes).to(DEVICE)
    if CUDA:
        model = model.to(memory_format=torch.channels_last)
    name = model_name()
    say(f"model: {name}, {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters")
    generator = torch.Generator().manual_seed(SEED)
    train(model, train_images, data.y_train, deadline - data.reserve, generator, len(data.valid_index) + len(data.test_paths))
    del train_images
    report_validation(model, data, name, bf16=True)
    predict_test_images(model, data, deadline, bf16=True)


if __name__ == "__main__":
    main()
