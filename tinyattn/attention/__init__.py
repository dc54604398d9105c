"""Attention mechanisms: scores, the attention step, encoder-decoder attention, learned-context attention (HAN),
self-attention (scaled dot-product, multi-head), hard attention (sampled positions), attention between two inputs
(two-way, co-attention, BiDAF, decomposable) and positions (sinusoidal, learned, rotary).

    from tinyattn.attention import attend, AdditiveScore

    score = AdditiveScore(query_size=32, key_size=64, hidden_size=32)
    context, weights = attend(decoder_state, encoder_states, encoder_states, score, mask=source_mask)

Shapes use B for the batch, T for lengths (Tq queries, Tk keys) and D for feature sizes. Masks are boolean with
True = attend (padding is False), everywhere.
"""
from tinyattn.attention.attend import attend
from tinyattn.attention.coattention import BiDAFAttention, BiDAFOutput, CoAttention, CoAttentionOutput
from tinyattn.attention.context import ContextAttention, StructuredSelfAttention, attention_penalty
from tinyattn.attention.decoders import BahdanauDecoder, Decoder, DecoderState, LuongDecoder, PlainDecoder
from tinyattn.attention.decomposable import DecomposableAttention, DecomposableOutput
from tinyattn.attention.han import HierarchicalAttentionNetwork
from tinyattn.attention.hard import HardAttention, HardAttentionOutput
from tinyattn.attention.language_model import CausalTransformerLM
from tinyattn.attention.local import PositionPredictor, gaussian, local_attend, window_mask
from tinyattn.attention.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    apply_rotary,
    rotary_angles,
)
from tinyattn.attention.rollout import attention_rollout
from tinyattn.attention.scores import (
    AdditiveScore,
    DotScore,
    GeneralScore,
    LocationScore,
    ScaledDotScore,
    Score,
    make_score,
)
from tinyattn.attention.self_attention import MultiHeadAttention
from tinyattn.attention.seq2seq import Seq2Seq, Seq2SeqEncoder
from tinyattn.attention.transformer import (
    FeedForward,
    KeyValueCache,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)
from tinyattn.attention.two_way import MutualOutput, TwoWayOutput, mutual_attention, two_way_attention
from tinyattn.scaled_dot_product import scaled_dot_product_attention

__all__ = [
    "attend", "Score", "DotScore", "ScaledDotScore", "GeneralScore", "AdditiveScore", "LocationScore", "make_score",
    "HardAttention", "HardAttentionOutput",
    "ContextAttention", "StructuredSelfAttention", "attention_penalty", "HierarchicalAttentionNetwork",
    "Seq2SeqEncoder", "Seq2Seq", "Decoder", "DecoderState", "PlainDecoder", "BahdanauDecoder", "LuongDecoder",
    "PositionPredictor", "window_mask", "gaussian", "local_attend",
    "scaled_dot_product_attention", "MultiHeadAttention", "SinusoidalPositionalEncoding", "LearnedPositionalEmbedding",
    "rotary_angles", "apply_rotary", "attention_rollout", "TransformerEncoderLayer", "TransformerEncoder",
    "TransformerDecoderLayer", "FeedForward", "KeyValueCache", "CausalTransformerLM",
    "two_way_attention", "TwoWayOutput", "mutual_attention", "MutualOutput", "CoAttention", "CoAttentionOutput",
    "BiDAFAttention", "BiDAFOutput", "DecomposableAttention", "DecomposableOutput",
]
