"""mlzero program template: a small BERT trained from scratch, blended with TF-IDF (GPU variant of text-tfidf).

Finds the free-text columns as text-tfidf does and joins them, column by
column with [SEP], into one document per row. A byte-level BPE tokenizer is
trained on the training split's documents with the tokenizers library (the
same texts give the same vocabulary in every run) and wrapped in
transformers' PreTrainedTokenizerFast; a BERT encoder built from a BertConfig
(random weights; nothing is downloaded: HF_HUB_OFFLINE and TRANSFORMERS_OFFLINE
are set before transformers loads) is trained with a head on its mean-pooled
output that also reads the other columns (numbers imputed and scaled, short
strings one-hot, as text-tfidf encodes them). AdamW with a one-epoch warm-up
and a cosine learning rate, bfloat16 autocast on CUDA; the epochs are planned
from the first epoch's time to fit the budget. A transformer trained from
scratch on little data is often weaker than TF-IDF, so text-tfidf's linear
model (LogisticRegression / Ridge on the TF-IDF union) is fitted too, and the
seeded holdout decides between TF-IDF alone, the transformer alone and their
average; the MLZERO_RESULT line names the winner. The TF-IDF model is refitted
on all rows when the budget allows, the transformer is not. On CUDA the
encoder has 4 layers of 256; on CPU (torch.cuda.is_available() false) 2 layers
of 64, so it still trains in a minute. reduce_level >= 1 halves the layers,
the width, the batch, the epochs and the sequence length.
"""
# mlzero:include common.py


# mlzero:include text_features.py


# A tokenizer trained here and random weights: the hub must never be asked for anything.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("RAYON_NUM_THREADS", str(N_JOBS))


# mlzero:include torch_train.py


import math

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from torch import nn
from torch.nn import functional as F
from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

HIDDEN = (256 if CUDA else 64) // (2 if REDUCE >= 1 else 1)
LAYERS = (4 if CUDA else 2) // (2 if REDUCE >= 1 else 1)
HEADS = max(2, HIDDEN // 64)
# Tokens per document at most (the length is the 95th percentile of the training documents, up to this).
MAX_TOKENS = {0: 256 if CUDA else 128, 1: 128}.get(REDUCE, 64)
VOCABULARY = {0: 30_000 if CUDA else 8000, 1: 8000}.get(REDUCE, 4000)
BATCH = (64 if CUDA else 32) // (2 if REDUCE >= 1 else 1)
MAX_EPOCHS = (40 if CUDA else 30) // {0: 1, 1: 2}.get(REDUCE, 4)
# Small data sets need more passes: train at least this many optimizer steps when time allows.
MIN_STEPS = {0: 3000 if CUDA else 600, 1: 400}.get(REDUCE, 200)
DROPOUT = 0.1
LEARNING_RATE = 1e-3 if HIDDEN <= 128 else 5e-4
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# The transformer's weight in the blends the holdout chooses between: TF-IDF alone, the average, the transformer alone.
WEIGHTS = (0.0, 0.5, 1.0)


def documents(frame, text):
    """One document per row: the text columns (missing text is "") joined with [SEP]."""
    joined = frame[text[0]]
    for column in text[1:]:
        joined = joined + "[SEP]" + frame[column]
    return joined.tolist()


def train_tokenizer(texts):
    """A byte-level BPE vocabulary learned from `texts` (NFKC, lower-cased; every byte is in the
    alphabet, so no text is unknown), wrapped as transformers' fast tokenizer that adds [CLS]
    and [SEP]. Not WordPiece: its trainer numbers the ##-pieces in hash-map order, so the same
    texts give another vocabulary in every process (huggingface/tokenizers#1794)."""
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCABULARY, min_frequency=2, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[(token, tokenizer.token_to_id(token)) for token in ("[CLS]", "[SEP]")],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
    )


def sequence_length(tokenizer, texts):
    """The 95th percentile of the documents' token counts (a sample of 2000), a multiple of 8
    from 16 to MAX_TOKENS: longer documents are cut, shorter batches are not padded to it."""
    sample = np.random.default_rng(SEED).choice(len(texts), size=min(2000, len(texts)), replace=False)
    counts = [len(ids) for ids in tokenizer([texts[i] for i in sample])["input_ids"]]
    return int(min(MAX_TOKENS, max(16, 8 * math.ceil(np.percentile(counts, 95) / 8))))


def encode(tokenizer, texts, length):
    """(N x length token ids padded with [PAD], each row's token count) as tensors."""
    rows = tokenizer(texts, truncation=True, max_length=length)["input_ids"]
    ids = np.full((len(rows), length), tokenizer.pad_token_id, dtype=np.int64)
    for index, row in enumerate(rows):
        ids[index, :len(row)] = row
    return torch.from_numpy(ids), torch.as_tensor([len(row) for row in rows])


def tabular_matrix(union, frame):
    """The other columns as dense float32 (scaled numbers clipped to +-5, one-hot strings), or None."""
    if union is None:
        return None
    matrix = union.transform(frame)
    matrix = matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)
    return torch.from_numpy(np.clip(matrix, -5, 5).astype(np.float32))


class TextModel(nn.Module):
    """A BERT encoder from random weights, mean-pooled over the real tokens; the head reads the
    pooled vector beside the other columns."""

    def __init__(self, config, tabular_width, outputs):
        super().__init__()
        self.encoder = BertModel(config, add_pooling_layer=False)
        self.head = nn.Sequential(
            nn.Dropout(0.1), nn.Linear(config.hidden_size + tabular_width, config.hidden_size), nn.GELU(),
            nn.Dropout(0.1), nn.Linear(config.hidden_size, outputs),
        )

    def forward(self, ids, mask, tabular):
        hidden = self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
        if tabular is not None:
            pooled = torch.cat([pooled, tabular.to(pooled.dtype)], dim=1)
        return self.head(pooled)


def make_model(tokenizer, length, tabular_width, outputs):
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
        intermediate_size=4 * HIDDEN, max_position_embeddings=length, type_vocab_size=1,
        hidden_dropout_prob=DROPOUT, attention_probs_dropout_prob=DROPOUT, pad_token_id=tokenizer.pad_token_id,
    )
    return TextModel(config, tabular_width, outputs)


def network_name():
    return f"BERT {LAYERS}x{HIDDEN} from scratch ({DEVICE.type}{', bf16' if CUDA else ''})"


def batch(data, index):
    """One batch on the device: token ids cut to its longest document, the mask, the other columns."""
    ids, lengths, tabular = data
    longest = int(lengths[index].max())
    batch_ids = ids[index, :longest].to(DEVICE, non_blocking=True)
    mask = (torch.arange(longest) < lengths[index].unsqueeze(1)).long().to(DEVICE, non_blocking=True)
    return batch_ids, mask, None if tabular is None else tabular[index].to(DEVICE, non_blocking=True)


def predict(model, data, target_scale):
    """(class indexes, probabilities as float64 rows summing to 1) for classification, (values,
    None) for regression; documents of similar length are batched together."""
    model.eval()
    order = torch.argsort(data[1])
    parts = []
    with torch.no_grad(), autocast():
        for index in order.split(256):
            parts.append(model(*batch(data, index)).float().cpu())
    outputs = torch.empty((len(order), parts[0].shape[1]))
    outputs[order] = torch.cat(parts)
    if target_scale is not None:
        mean, std = target_scale
        return outputs[:, 0].double().numpy() * std + mean, None
    probabilities = F.softmax(outputs.double(), dim=1).numpy()
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return probabilities.argmax(axis=1), probabilities


def train(model, data, target, deadline, generator, predict_rows):
    """AdamW: a linear warm-up over the first epoch, then a cosine to 1% of the rate over the
    epochs planned from the first epoch's time, keeping time to predict `predict_rows` rows (a
    forward pass, about 0.4 of a training step per row). Weight decay on the weight matrices and
    embeddings only. `target` holds class indexes, or standardized values for regression."""
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.01), lr=LEARNING_RATE)
    labels = torch.as_tensor(np.asarray(target), dtype=torch.long if CLASSIFICATION else torch.float32).to(DEVICE)

    def loss_of(index):
        with autocast():
            outputs = model(*batch(data, index)).float()
        truth = labels[index.to(DEVICE)]
        return F.cross_entropy(outputs, truth) if CLASSIFICATION else F.mse_loss(outputs[:, 0], truth)

    n = len(labels)
    train_epochs(
        model, optimizer, WarmupCosine(optimizer, LEARNING_RATE), loss_of, n, batch_size_for(n, BATCH, 16), deadline, generator,
        MAX_EPOCHS, MIN_STEPS, what="documents", clip=1.0, predict_rows=predict_rows, predict_cost=0.4,
    )


def mix(weight, linear, network):
    """(predicted, probabilities) of `weight` x the transformer + (1 - weight) x TF-IDF."""
    if weight == 0.0:
        return linear
    if weight == 1.0:
        return network
    if CLASSIFICATION:
        # The linear model's probabilities are float32 (TF-IDF is): sum the rows to 1 in float64.
        probabilities = (1 - weight) * linear[1].astype(np.float64) + weight * network[1]
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return probabilities.argmax(axis=1), probabilities
    return (1 - weight) * linear[0] + weight * network[0], None


def blend_name(weight, linear_name):
    if weight == 0.0:
        return f"{linear_name}, chosen over {network_name()}"
    if weight == 1.0:
        return f"{network_name()}, chosen over {linear_name}"
    return f"average of {network_name()} and {linear_name}"


def fit_network(text, categorical, numeric, split, n_classes, deadline, predict_rows):
    """Trains the tokenizer and the transformer on the training split. Returns a dict: model,
    tokenizer, length (tokens per document at most), union (of the other columns, or None),
    target_scale ((mean, std) for regression, else None), valid (validation predictions)."""
    x_train, x_valid, y_train, _ = split
    began = time.monotonic()
    train_texts = documents(x_train, text)
    tokenizer = train_tokenizer(train_texts)
    length = sequence_length(tokenizer, train_texts)
    say(f"byte-level BPE vocabulary of {len(tokenizer)} tokens from {len(train_texts)} documents; "
        f"{length} tokens per document at most ({time.monotonic() - began:.1f} s)")
    union = None
    if categorical or numeric:
        # The other columns as text-tfidf encodes them: scaled numbers with missing-value
        # indicators, one-hot short strings.
        union = tfidf_union([], categorical, numeric, x_train, 0, False).fit(x_train)
    train_data = (*encode(tokenizer, train_texts, length), tabular_matrix(union, x_train))
    valid_data = (*encode(tokenizer, documents(x_valid, text), length), tabular_matrix(union, x_valid))
    target, target_scale = y_train.to_numpy(), None
    if not CLASSIFICATION:
        target_scale = (float(target.mean()), float(target.std()) or 1.0)
        target = (target - target_scale[0]) / target_scale[1]
    tabular_width = 0 if train_data[2] is None else train_data[2].shape[1]
    model = make_model(tokenizer, length, tabular_width, n_classes if CLASSIFICATION else 1).to(DEVICE)
    say(f"model: {network_name()}, {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
        f"{tabular_width} other features in the head")
    train(model, train_data, target, deadline, torch.Generator().manual_seed(SEED), predict_rows)
    valid = predict(model, valid_data, target_scale)
    return dict(model=model, tokenizer=tokenizer, length=length, union=union, target_scale=target_scale, valid=valid)


def main():
    start, deadline = start_clock()
    seed_torch()
    train_table, test, columns, target = load_tables()
    # Below ~20k rows OpenMP threads (in the linear models' loss) cost more in synchronisation
    # than they give, and stall badly when the cores are shared.
    openmp = 1 if len(train_table) < 20_000 else N_JOBS
    text, categorical, numeric = text_columns(train_table, columns)
    say(f"free-text columns: {text}; categorical: {categorical}; numeric: {numeric}")
    features = prepare(train_table[columns], text, categorical)
    test_features = prepare(align_test(test, columns), text, categorical)
    metric = metric_name()
    classes, encoded, n_classes = encode_target(target)
    split = holdout(features, encoded)
    y_valid = split[3]
    budget = deadline - start

    with threadpool_limits(limits=openmp, user_api="openmp"):
        linear = fit_linear(text, categorical, numeric, split, metric, n_classes, start, budget)
    linear_name = f"{type(linear['model']).__name__} on TF-IDF" if text else type(linear["model"]).__name__
    linear_valid = (linear["predicted"], linear["probabilities"])
    refit_seconds = 1.3 * (linear["vectorize_seconds"] + linear["fit_seconds"])

    # The transformer gets the time left but a refit of the linear model and a margin.
    network, weight = None, 0.0
    network_deadline = deadline - refit_seconds - 0.05 * budget - 2
    if not text:
        warn("no text to read: the linear model alone")
    elif network_deadline - time.monotonic() < 0.2 * budget:
        warn(f"time budget: {network_deadline - time.monotonic():.0f} s left, too little for the transformer; the linear model alone")
    else:
        cpu_threads(SMALL_NETWORK_THREADS)
        say(f"training the transformer on {device_name()}")
        try:
            network = fit_network(text, categorical, numeric, split, n_classes, network_deadline, len(y_valid) + len(test))
        except torch.OutOfMemoryError as error:
            warn(f"the transformer ran out of memory ({error}); the linear model alone (a higher reduce_level shrinks it)")
            network = None
            if CUDA:
                torch.cuda.empty_cache()

    if network is not None:
        # The holdout decides: TF-IDF alone, the average, or the transformer alone (ties go to the simpler).
        best = None
        for candidate, label in zip(WEIGHTS, ("TF-IDF alone", "average", "transformer alone")):
            predicted, probabilities = mix(candidate, linear_valid, network["valid"])
            value = score(metric, y_valid, predicted, probabilities, n_classes)
            say(f"blend {label}: validation {metric} = {value:.4f}")
            if best is None or (value < best[0] if metric in LOWER_IS_BETTER else value > best[0]):
                best = (value, candidate)
        weight = best[1]
    predicted, probabilities = mix(weight, linear_valid, network and network["valid"])
    report(metric, y_valid, predicted, probabilities, n_classes, blend_name(weight, linear_name) if network is not None else linear_name)

    linear_test = network_test = None
    if weight < 1.0:
        union, model = linear["union"], linear["model"]
        # Refit on every row in the time kept for it, when the transformer left that time.
        if time.monotonic() + refit_seconds < deadline - 0.05 * budget - 1:
            with threadpool_limits(limits=openmp, user_api="openmp"):
                union = linear_union(text, categorical, numeric, features)
                model = make_linear(linear["strength"]).fit(union.fit_transform(features), encoded)
        else:
            warn("time budget: predicting with the linear model fitted on the training split")
        linear_test = linear_predict(model, union.transform(test_features))
    if weight > 0.0:
        ids, lengths = encode(network["tokenizer"], documents(test_features, text), network["length"])
        data = (ids, lengths, tabular_matrix(network["union"], test_features))
        network_test = predict(network["model"], data, network["target_scale"])
    predicted, probabilities = mix(weight, linear_test, network_test)
    write_predictions(test, classes, predicted, probabilities)


if __name__ == "__main__":
    main()
