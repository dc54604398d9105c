"""Attention models, one training step (forward + backward, float32): tinyattn.attention against the same in torch.

Cases (all float32, loss = mean cross-entropy, the backward reaches every parameter):

    Seq2Seq, BahdanauDecoder    B=64, S=20 source tokens, T=10 target tokens, vocabularies 40 (source) / 20
    Seq2Seq, LuongDecoder       (target), embeddings 32, encoder hidden 32 (bidirectional: 64), decoder hidden 64;
                                Luong with the general score and global attention
    HierarchicalAttentionNetwork B=32 documents, S=8 sentences, W=12 words, vocabulary 2000, embeddings 32, word and
                                sentence hidden 32, attention 32, 3 classes
    greedy decoding             the Bahdanau model, max length T, no gradient: Seq2Seq.greedy against a torch loop

The torch models (bench/seq2seq_torch.py) are written layer for layer after tinyattn's, with its parameters copied
in, so both compute the same function: before timing, the losses must agree (rtol 1e-4) and so must every
parameter's gradient (np.allclose, rtol 1e-3, atol 1e-4 x the largest value), and greedy decoding must give the
same tokens; otherwise the script stops. Padding sits at the end of each row (and padded sentences at the end of
each document), which torch's pack_padded_sequence needs.

Both run with one thread by default (OpenBLAS and torch): the matrices are small, and on this 2-core machine
threads cost more than they give; --threads N for more. All systems run in one process, warmed up, interleaved
over rounds (the order rotates each round), each timed run after --settle untimed runs of the same system and a
gc.collect(), with what existed before timing frozen out of the collector (as bench/overhead.py). The ratio
tinyattn / torch and its interquartile range are taken per round, from the two runs of the same round.

    python bench/seq2seq.py                 # 20 rounds
    python bench/seq2seq.py --quick         # 5 rounds
    python bench/seq2seq.py --threads 2     # two threads in OpenBLAS and torch
"""
import statistics

import numpy as np

# isort: split
# common first: it puts the repository root on sys.path when tinyattn is not installed.
import common

# isort: split
import tinyattn
import tinyattn.functional as F
from tinyattn.attention import BahdanauDecoder, HierarchicalAttentionNetwork, LuongDecoder, Seq2Seq, Seq2SeqEncoder

BATCH, SOURCE_LENGTH, TARGET_LENGTH = 64, 20, 10
SOURCE_VOCAB, TARGET_VOCAB, EMBED, ENCODER_HIDDEN, DECODER_HIDDEN = 40, 20, 32, 32, 64
PAD, BOS, EOS = 0, 1, 2
DOCUMENTS, SENTENCES, WORDS = 32, 8, 12
HAN_VOCAB, HAN_EMBED, HAN_HIDDEN, HAN_ATTENTION, CLASSES = 2000, 32, 32, 32, 3


# ----- data: generated, padding at the end of every row ---------------------------------------------------------------
def padded_rows(rng, rows, width, low_length, vocab_low, vocab_high):
    """ids (rows, width) int64: each row a random length in [low_length, width] of tokens in [vocab_low,
    vocab_high), then PAD."""
    lengths = rng.integers(low_length, width + 1, rows)
    ids = rng.integers(vocab_low, vocab_high, (rows, width))
    ids[np.arange(width) >= lengths[:, None]] = PAD
    return ids


def seq2seq_batch(rng):
    source = padded_rows(rng, BATCH, SOURCE_LENGTH, SOURCE_LENGTH // 2, 3, SOURCE_VOCAB)
    target = padded_rows(rng, BATCH, TARGET_LENGTH - 1, TARGET_LENGTH // 2 - 1, 3, TARGET_VOCAB)
    target = np.concatenate([target, np.full((BATCH, 1), PAD)], axis=1)  # room for eos after the longest row
    target[np.arange(BATCH), (target != PAD).sum(axis=1)] = EOS  # tokens, eos, then pad
    return source, source != PAD, target


def documents_batch(rng):
    ids = padded_rows(rng, DOCUMENTS * SENTENCES, WORDS, 3, 1, HAN_VOCAB).reshape(DOCUMENTS, SENTENCES, WORDS)
    sentence_counts = rng.integers(SENTENCES // 2, SENTENCES + 1, DOCUMENTS)
    ids[np.arange(SENTENCES)[None, :] >= sentence_counts[:, None]] = PAD  # padded sentences at the end
    return ids, rng.integers(0, CLASSES, DOCUMENTS)


# ----- the models -----------------------------------------------------------------------------------------------------
def tinyattn_seq2seq(decoder_kind):
    encoder = Seq2SeqEncoder(SOURCE_VOCAB, EMBED, ENCODER_HIDDEN, rng=0)
    if decoder_kind == "Bahdanau":
        decoder = BahdanauDecoder(TARGET_VOCAB, EMBED, DECODER_HIDDEN, encoder.output_size, rng=1)
    else:
        decoder = LuongDecoder(TARGET_VOCAB, EMBED, DECODER_HIDDEN, encoder.output_size, score="general",
                               attention="global", rng=1)
    return Seq2Seq(encoder, decoder, BOS, EOS, PAD)


def torch_seq2seq(decoder_kind, source_model):
    import seq2seq_torch as T

    decoder_class = T.BahdanauDecoder if decoder_kind == "Bahdanau" else T.LuongDecoder
    model = T.Seq2Seq(T.Encoder(SOURCE_VOCAB, EMBED, ENCODER_HIDDEN),
                      decoder_class(TARGET_VOCAB, EMBED, DECODER_HIDDEN, 2 * ENCODER_HIDDEN), BOS, EOS, PAD)
    T.copy_weights(source_model, model)
    return model


def tinyattn_han():
    return HierarchicalAttentionNetwork(HAN_VOCAB, HAN_EMBED, HAN_HIDDEN, HAN_HIDDEN, HAN_ATTENTION, CLASSES, rng=0)


def torch_han(source_model):
    import seq2seq_torch as T

    model = T.HierarchicalAttentionNetwork(HAN_VOCAB, HAN_EMBED, HAN_HIDDEN, HAN_HIDDEN, HAN_ATTENTION, CLASSES)
    T.copy_weights(source_model, model)
    return model


# ----- systems: fresh() clears the gradients, forward() computes the loss, backward() its gradients -------------------
class Step:
    """One training step of `model`: `loss()` returns the scalar loss; `library` is "tinyattn" or "torch"."""

    has_backward = True

    def __init__(self, case, library, model, loss):
        self.case, self.library, self.model, self.loss = case, library, model, loss
        self.name = f"{case}, {library}"

    def fresh(self):
        if self.library == "torch":
            self.model.zero_grad(set_to_none=True)
        else:
            self.model.zero_grad()
        self.out = None

    def forward(self):
        self.out = self.loss()

    def backward(self):
        self.out.backward()

    def loss_value(self):
        return float(self.out.item() if self.library == "torch" else self.out.data)

    def gradients(self):
        """{name: gradient array} in tinyattn's layout (torch's (out, in) matrices transposed back)."""
        if self.library == "tinyattn":
            return {name: parameter.grad for name, parameter in self.model.named_parameters()}
        import torch

        grads = {}
        for name, parameter in self.model.named_parameters():
            owner = self.model.get_submodule(name.rpartition(".")[0])
            grad = parameter.grad.numpy()
            transposed = isinstance(owner, (torch.nn.Linear, torch.nn.GRU, torch.nn.GRUCell)) and grad.ndim == 2
            grads[name] = grad.T if transposed else grad
        return grads


class Greedy:
    """Greedy decoding (no gradient): `decode()` returns ids as a NumPy array."""

    has_backward = False

    def __init__(self, case, library, decode):
        self.case, self.library, self.decode = case, library, decode
        self.name = f"{case}, {library}"

    def fresh(self):
        self.out = None

    def forward(self):
        self.out = self.decode()


def build_systems(with_torch):
    """(tinyattn, torch or None) pairs of systems, one pair per case."""
    rng = np.random.default_rng(0)
    source, source_mask, target = seq2seq_batch(rng)
    ids, labels = documents_batch(rng)
    if with_torch:
        import torch

        t_source, t_mask, t_target = (torch.from_numpy(a) for a in (source, source_mask, target))
        t_ids, t_labels = torch.from_numpy(ids), torch.from_numpy(labels)
    pairs = []
    for kind in ("Bahdanau", "Luong"):
        model = tinyattn_seq2seq(kind)
        case = f"Seq2Seq, {kind}Decoder" + (" (general, global)" if kind == "Luong" else "") + ", train step"
        mine = Step(case, "tinyattn", model, lambda model=model: model.loss(source, source_mask, target))
        theirs = None
        if with_torch:
            peer = torch_seq2seq(kind, model)
            theirs = Step(case, "torch", peer, lambda peer=peer: peer.loss(t_source, t_mask, t_target))
        pairs.append((mine, theirs))
        if kind == "Bahdanau":
            greedy_case = "Seq2Seq, BahdanauDecoder, greedy decoding"
            greedy = (Greedy(greedy_case, "tinyattn", lambda model=model: model.greedy(source, source_mask,
                                                                                        TARGET_LENGTH)[0]),
                      Greedy(greedy_case, "torch", lambda peer=peer: peer.greedy(t_source, t_mask,
                                                                                 TARGET_LENGTH)[0].numpy())
                      if with_torch else None)
    pairs.append(greedy)
    model = tinyattn_han()
    case = "HierarchicalAttentionNetwork, train step"
    mine = Step(case, "tinyattn", model, lambda: F.cross_entropy(model(ids)[0], labels))
    theirs = None
    if with_torch:
        peer = torch_han(model)
        theirs = Step(case, "torch", peer, lambda: torch.nn.functional.cross_entropy(peer(t_ids), t_labels))
    pairs.append((mine, theirs))
    return pairs


def check_same_work(mine, theirs):
    """Fail loudly unless the pair computes the same loss and gradients (or the same greedy tokens); return the
    losses (None for greedy decoding)."""
    for system in (mine, theirs):
        system.fresh()
        system.forward()
        if system.has_backward:
            system.backward()
    if not mine.has_backward:
        if not np.array_equal(mine.out, theirs.out):
            raise AssertionError(f"{mine.case}: tinyattn and torch decoded different tokens ({mine.out.shape} vs "
                                 f"{theirs.out.shape}, {(mine.out != theirs.out).sum()} differ if the shapes match)")
        return None
    losses = mine.loss_value(), theirs.loss_value()
    if not (np.isfinite(losses).all() and np.isclose(*losses, rtol=1e-4)):
        raise AssertionError(f"{mine.case}: losses differ: tinyattn {losses[0]:.6g}, torch {losses[1]:.6g}")
    expected = mine.gradients()
    for name, grad in theirs.gradients().items():
        want = expected[name]
        problem = common.closeness_problem(grad, want, rtol=1e-3, atol=1e-4 * max(float(np.abs(want).max()), 1e-6))
        if problem:
            raise AssertionError(f"{mine.case}: the gradient of {name} differs between tinyattn and torch ({problem})")
    return losses


def print_results(pairs, samples):
    summary = common.summarise(samples)
    rows = []
    for mine, theirs in pairs:
        forward, backward, total = summary[mine.name][:3]
        row = [mine.case, f"{forward:.2f}", f"{backward:.2f}" if mine.has_backward else "–", f"{total:.2f}"]
        if theirs is None:
            rows.append(row + ["–"] * 5)
            continue
        ratios = [a[2] / b[2] for a, b in zip(samples[mine.name], samples[theirs.name], strict=True)]  # per round
        low, high = common.quartiles(ratios)
        torch_forward, torch_backward, torch_total = summary[theirs.name][:3]
        rows.append(row + [f"{torch_forward:.2f}", f"{torch_backward:.2f}" if theirs.has_backward else "–",
                           f"{torch_total:.2f}", f"{statistics.median(ratios):.2f}", f"{low:.2f}–{high:.2f}"])
    common.print_table(["case", "tinyattn forward ms", "backward ms", "total ms", "torch forward ms", "backward ms",
                        "total ms", "tinyattn / torch", "ratio IQR"], rows)


def parse_args(argv=None):
    parser = common.new_parser(__doc__)
    common.add_round_arguments(parser, rounds=(20, 5), warmup=(3, 1))
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for OpenBLAS and torch (default 1: small matrices lose to threading here)")
    parser.add_argument("--settle", type=int, default=1,
                        help="untimed runs of a system just before each of its timed runs (default 1)")
    args = common.resolve_rounds(parser.parse_args(argv), rounds=(20, 5), warmup=(3, 1))
    if args.rounds < 1 or args.warmup < 0 or args.settle < 0 or args.threads < 1:
        parser.error("--rounds and --threads must be at least 1, --warmup and --settle at least 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        import seq2seq_torch  # noqa: F401 (imports torch)

        with_torch = True
    except ImportError as error:
        print(f"skipped torch: {type(error).__name__}: {error}")
        with_torch = False
    common.set_threads(args.threads)
    pairs = build_systems(with_torch)
    print(f"Attention models, one training step (forward + backward, float32) and greedy decoding; median of "
          f"{args.rounds} interleaved rounds after {args.warmup} warm-up run(s) per system, each timed run after "
          f"{args.settle} untimed run(s) of its own system.")
    print(common.environment_line([f"tinyattn {getattr(tinyattn, '__version__', '(no version)')}",
                                   common.torch_note(default=False)], blas=True))
    for mine, theirs in pairs:
        if theirs is not None:
            losses = check_same_work(mine, theirs)
            if losses:
                print(f"{mine.case}: loss at init tinyattn {losses[0]:.5f}, torch {losses[1]:.5f}")
    if with_torch:
        print("Before timing, every pair gave the same loss (rtol 1e-4), the same gradient of every parameter "
              "(rtol 1e-3, atol 1e-4 x the largest value) and the same greedy tokens.")
    print()
    systems = [system for pair in pairs for system in pair if system is not None]
    with common.frozen_gc():
        samples = common.measure(systems, args.rounds, args.warmup, args.settle)
    print_results(pairs, samples)


if __name__ == "__main__":
    main()
