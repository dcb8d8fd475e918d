"""The top encoder layer computed for the first token only, where a classifier's logits read nothing else.

A BERT-like sequence classifier's head reads the top layer's output at position 0 ([CLS], `<s>`) and nowhere
else. That one row needs the top layer's keys and values of every token, but its query, attention output and
feed-forward for one token only: the top layer then costs about a sixth of a full one, the same logits. Measured
side by side (docs/results/benchmarks-history.md, "First token only"): the default recipe's training step 1.28x faster, a 2-layer
student's prediction 1.63x, the 12-layer model's 1.09x.

`first_token_only(model)` turns it on for the calling thread: the top layer's own forward is kept and only
replaced while the flag is set, so a model whose hidden states another caller needs (mean pooling, a student's
layer loss) is untouched outside the block, and threads sharing a model do not see each other's choice.
"""
import contextlib
import threading
import types

import torch

# model types whose sequence-classification heads read position 0 alone (XLNet reads the last token, DistilBERT
# has another layer layout): anything else keeps its full top layer
FIRST_TOKEN_HEADS = ("bert", "roberta", "xlm-roberta", "electra", "camembert")
_ATTENTION_PARTS = ("query", "key", "value", "attention_head_size", "scaling", "dropout", "config")
_state = threading.local()


def top_layer(model):
    """The top encoder layer of a Hugging Face classifier when its head reads the first token alone and the layer
    has the BERT layout; None otherwise. `model`: the classifier itself, not a wrapper."""
    config = getattr(model, "config", None)
    if config is None or config.model_type not in FIRST_TOKEN_HEADS or getattr(config, "is_decoder", False):
        return None
    base = getattr(model, model.base_model_prefix, None)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if not layers:
        return None
    top = layers[-1]
    attention = getattr(getattr(top, "attention", None), "self", None)
    blocks = (getattr(getattr(top, "attention", None), "output", None), getattr(top, "output", None))
    if (attention is None or not all(hasattr(attention, a) for a in _ATTENTION_PARTS)
            or not all(hasattr(block, a) for block in blocks for a in ("dense", "dropout", "LayerNorm"))
            or not hasattr(top, "intermediate")):
        return None
    return top


@contextlib.contextmanager
def first_token_only(model):
    """Within the block, this thread's forward passes of `model` compute its top layer for the first token
    only (the encoder's last hidden state is then one row per input). A no-op for other models."""
    top = top_layer(model)
    if top is None:
        yield
        return
    if "forward" not in vars(top):  # installed once; outside the flag it is the layer's own forward
        top.forward = types.MethodType(_forward, top)
    before = getattr(_state, "on", False)
    _state.on = True
    try:
        yield
    finally:
        _state.on = before


def _forward(layer, hidden_states, attention_mask=None, *args, **kwargs):
    if not getattr(_state, "on", False) or not isinstance(attention_mask, (torch.Tensor, type(None))):
        # (a mask that is no tensor, flex attention's: the full layer, whose row 0 the head reads just the same)
        return type(layer).forward(layer, hidden_states, attention_mask, *args, **kwargs)
    return first_token_forward(layer, hidden_states, attention_mask)


def first_token_forward(layer, hidden_states, attention_mask=None):
    """`layer`'s output at position 0 alone (batch × 1 × hidden): its query from that row, keys and values from
    all rows, through the layer's own attention function, output block and feed-forward."""
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
    from transformers.models.bert.modeling_bert import eager_attention_forward
    attention = layer.attention.self
    batch, length, _ = hidden_states.shape
    first = hidden_states[:, :1]

    def heads(x, n):
        return x.view(batch, n, -1, attention.attention_head_size).transpose(1, 2)
    query = heads(attention.query(first), 1)
    key, value = heads(attention.key(hidden_states), length), heads(attention.value(hidden_states), length)
    # the mask's query axis is either every position or broadcast (1): row 0 serves both
    mask = attention_mask[:, :, :1] if attention_mask is not None else None
    function = ALL_ATTENTION_FUNCTIONS.get_interface(attention.config._attn_implementation, eager_attention_forward)
    out, _ = function(attention, query, key, value, mask, dropout=attention.dropout.p if layer.training else 0.0,
                      scaling=attention.scaling)
    block = layer.attention.output
    out = block.LayerNorm(_dropout(block.dropout, block.dense(out.reshape(batch, 1, -1)), length) + first)
    block = layer.output
    return block.LayerNorm(_dropout(block.dropout, block.dense(layer.intermediate(out)), length) + out)


def _dropout(module, x, length: int):
    """`module`'s dropout of row 0 as the full layer drops it: the noise of all `length` rows is drawn and row 0
    kept, so the random stream, and with it a seed's run, is the one the full top layer gives."""
    if not module.training or module.p == 0:
        return x
    noise = torch.empty((x.shape[0], length, x.shape[2]), dtype=x.dtype, device=x.device)
    noise = noise.bernoulli_(1 - module.p)[:, :1]
    return x * noise.div_(1 - module.p)
