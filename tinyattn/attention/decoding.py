"""Decoding a trained seq2seq model: greedy search and beam search, with the attention weights of every step.

Both are not differentiable (argmax, sorting) and run under ``no_grad``. Both work on a decoder's step interface
(``decoder.start``, ``decoder.step``, ``state.reorder``; see tinyattn.attention.decoders) and never emit the padding
or the start token (their log-probabilities are set to -inf), so a returned row reads: tokens, eos, then padding.

The score of a hypothesis y_1..y_n is its log-probability, sum_t log p(y_t | y_<t, x). Beam search ranks hypotheses
by score / n ** length_penalty (length_penalty = 0: the plain log-probability, which favours short outputs, since
every token adds a negative term; 1: the mean log-probability per token). length_penalty is a finite number >= 0:
NaN or inf would silently rank nothing (every comparison false, every long hypothesis -0), and a negative value
would favour short outputs even more than 0 does; they are refused (ValueError, or TypeError for a non-number), as
are a beam_size or max_length that is not an integer >= 1.
"""
import numpy as np

from tinyattn.attention import _checks
from tinyattn.engine import no_grad


def _log_probs(logits, banned):
    """log_softmax of the logits (B, V) as an array, with the banned tokens (V,) bool at -inf."""
    return logits.log_softmax(axis=-1, mask=~banned).data  # (B, V)


def _banned_tokens(vocab_size, bos_id, pad_id):
    banned = np.zeros(vocab_size, dtype=bool)
    banned[[bos_id, pad_id]] = True
    return banned


def greedy_search(decoder, encoder_states, encoder_final, source_mask, bos_id, eos_id, pad_id, max_length):
    """At each step take the most probable token: y_t = argmax log p(y | y_<t, x); stop a row at eos.

    Returns ids (B, L) int64 and weights (B, L, S) (an array, or None for a decoder without attention), L <= max_length
    the length of the longest row; after its eos a row holds pad_id and zero weights.
    """
    _checks.sizes("greedy_search", max_length=max_length)
    with no_grad():
        batch = source_mask.shape[0]
        # The same row copy as beam search's expansion to B*K rows: NumPy's matmul can round differently for
        # differently strided inputs, and beam_size = 1 must reproduce greedy search bit for bit.
        state = decoder.start(encoder_states, encoder_final, source_mask).reorder(np.arange(batch))
        banned = _banned_tokens(decoder.vocab_size, bos_id, pad_id)
        tokens = np.full(batch, bos_id, dtype=np.int64)
        finished = np.zeros(batch, dtype=bool)
        ids, weights = [], []
        for _ in range(max_length):
            logits, state, step_weights = decoder.step(tokens, state)
            tokens = np.argmax(_log_probs(logits, banned), axis=-1)  # (B,)
            tokens = np.where(finished, pad_id, tokens)
            ids.append(tokens)
            if step_weights is not None:
                weights.append(np.where(finished[:, None], 0, step_weights.data))  # (B, S)
            finished = finished | (tokens == eos_id)
            if finished.all():
                break
    ids = np.stack(ids, axis=1).astype(np.int64)  # (B, L)
    return ids, (np.stack(weights, axis=1) if weights else None)  # (B, L, S)


def beam_search(decoder, encoder_states, encoder_final, source_mask, bos_id, eos_id, pad_id, beam_size, max_length,
                length_penalty=0.0):
    """Keep the `beam_size` (K) best hypotheses of every source row; return each row's best.

    The batch is expanded to B*K rows (row b's beams are rows b*K .. b*K + K-1). At each step every unfinished beam
    proposes its K most probable next tokens, with score = beam score + log p(token); a finished beam (one that
    emitted eos) proposes only itself, extended by pad at no cost, so it keeps competing for a place. Of the
    candidates of a row the K best by score / length ** length_penalty survive, and the decoder states, the tokens
    and the attention weights of every step are reordered along their back-pointers (the beam each came from).
    The search stops when all beams are finished or after max_length steps; each row returns its best beam.

    With beam_size = 1 the one beam follows the argmax at every step: exactly ``greedy_search``'s result.

    Returns ids (B, L) int64 and weights (B, L, S) array or None, as greedy_search.
    """
    _checks.sizes("beam_search", beam_size=beam_size, max_length=max_length)
    _checks.length_penalty("beam_search", length_penalty)
    with no_grad():
        batch, keys = source_mask.shape
        size = beam_size
        banned = _banned_tokens(decoder.vocab_size, bos_id, pad_id)
        state = decoder.start(encoder_states, encoder_final, source_mask)
        state = state.reorder(np.repeat(np.arange(batch), size))  # (B, ...) -> (B*K, ...): K copies of each row
        scores = np.full((batch, size), -np.inf)
        scores[:, 0] = 0.0  # the K copies are identical: start from one, or the first step picks K duplicates
        lengths = np.zeros((batch, size), dtype=np.int64)
        finished = np.zeros((batch, size), dtype=bool)
        tokens = np.full((batch, size), bos_id, dtype=np.int64)
        history_ids = np.zeros((batch, size, 0), dtype=np.int64)
        history_weights = None
        rows = np.arange(batch)[:, None]
        for _ in range(max_length):
            logits, state, step_weights = decoder.step(tokens.reshape(-1), state)
            log_probs = _log_probs(logits, banned).astype(np.float64).reshape(batch, size, -1)  # (B, K, V)
            # Each beam's K best tokens (stable: ties go to the lower token id, as np.argmax does in greedy search).
            best_tokens = np.argsort(-log_probs, axis=-1, kind="stable")[..., :size]  # (B, K, W), W = min(K, V)
            width = best_tokens.shape[-1]
            candidate_scores = scores[..., None] + np.take_along_axis(log_probs, best_tokens, axis=-1)  # (B, K, W)
            candidate_lengths = np.broadcast_to(lengths[..., None] + 1, candidate_scores.shape).copy()
            # A finished beam's only candidate: itself, extended by pad, at no cost.
            best_tokens = np.where(finished[..., None], pad_id, best_tokens)
            candidate_scores[finished, 0] = scores[finished]
            candidate_scores[finished, 1:] = -np.inf
            candidate_lengths[finished] = lengths[finished][:, None]
            ranking = _penalised(candidate_scores, candidate_lengths, length_penalty).reshape(batch, -1)  # (B, K*W)
            chosen = np.argsort(-ranking, axis=-1, kind="stable")[:, :size]  # (B, K), flat candidate indices
            parents = chosen // width  # the beam each survivor extends
            tokens = best_tokens.reshape(batch, -1)[rows, chosen]  # (B, K)
            scores = candidate_scores.reshape(batch, -1)[rows, chosen]
            lengths = candidate_lengths.reshape(batch, -1)[rows, chosen]
            was_finished = finished[rows, parents]
            # A beam whose score is -inf (fewer than K real candidates so far) is dead: mark it finished so that
            # it only ever proposes itself and never holds the search open.
            finished = was_finished | (tokens == eos_id) | ~np.isfinite(scores)
            history_ids = np.concatenate([history_ids[rows, parents], tokens[..., None]], axis=-1)  # (B, K, t)
            if step_weights is not None:
                new_weights = step_weights.data.reshape(batch, size, keys)[rows, parents]  # (B, K, S)
                new_weights = np.where(was_finished[..., None], 0, new_weights)[:, :, None, :]
                history_weights = new_weights if history_weights is None else np.concatenate(
                    [history_weights[rows, parents], new_weights], axis=2)  # (B, K, t, S)
            state = state.reorder((rows * size + parents).reshape(-1))
            if finished.all():
                break
        best = np.argmax(_penalised(scores, np.maximum(lengths, 1), length_penalty), axis=-1)  # (B,)
        ids = history_ids[np.arange(batch), best]  # (B, t)
        weights = None if history_weights is None else history_weights[np.arange(batch), best]  # (B, t, S)
        length = max(int((ids != pad_id).sum(axis=1).max()), 1)  # drop the columns that are padding in every row
        return ids[:, :length].astype(np.int64), (None if weights is None else weights[:, :length])


def _penalised(scores, lengths, length_penalty):
    """score / length ** length_penalty (the plain score when length_penalty is 0)."""
    if length_penalty == 0:
        return scores
    return scores / lengths.astype(np.float64) ** length_penalty
