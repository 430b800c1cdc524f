"""A small CLIP text encoder and a character-level `CLIPTokenizer`, built locally (no hub).

Text-to-image models trained here, and the tiny pipelines the tests build, need a tokenizer
without downloading CLIP's 49k-token BPE vocabulary. A character vocabulary with no merges makes
`CLIPTokenizer` split every word into characters (the last one carrying CLIP's `</w>` word-end
mark), so any prompt over the alphabet tokenizes, and the files load with stock
`CLIPTokenizer.from_pretrained(folder)`.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from transformers import CLIPTextConfig, CLIPTokenizer

# CLIPTokenizer lower-cases and collapses whitespace before splitting, so upper case never occurs.
DEFAULT_ALPHABET = string.ascii_lowercase + string.digits + " .,'-_/()!?&+:"
START, END = "<|startoftext|>", "<|endoftext|>"
WORD_END = "</w>"


def char_vocab(alphabet: str = DEFAULT_ALPHABET) -> dict[str, int]:
    """Token -> id: the two CLIP specials, then each character alone and word-final."""
    chars = sorted({c for c in alphabet if not c.isspace()})
    tokens = [START, END, *chars, *(c + WORD_END for c in chars)]
    return {token: i for i, token in enumerate(tokens)}


def write_char_tokenizer(
    directory: str | Path, *, alphabet: str = DEFAULT_ALPHABET, max_length: int = 32
) -> CLIPTokenizer:
    """Write `vocab.json`, `merges.txt` and the tokenizer config to `directory`; return it loaded.

    Prompts are cut or padded to `max_length` tokens (start and end included), which must not
    exceed the text encoder's `max_position_embeddings`. A character outside `alphabet` becomes
    the unknown token (CLIP's end token).
    """
    from transformers import CLIPTokenizer

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(char_vocab(alphabet)))
    (folder / "merges.txt").write_text("#version: 0.2\n")  # no merges: characters stay apart
    tokenizer = CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=max_length
    )
    tokenizer.save_pretrained(folder)
    return tokenizer


def text_encoder_config(
    tokenizer: CLIPTokenizer,
    *,
    hidden_size: int = 32,
    layers: int = 2,
    heads: int = 4,
) -> CLIPTextConfig:
    """A `CLIPTextConfig` sized for `tokenizer` (its vocabulary, its prompt length, its ids)."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=4 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=tokenizer.model_max_length,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def tokenize(tokenizer: CLIPTokenizer, prompts: list[str]) -> torch.Tensor:
    """Token ids `(len(prompts), max_length)`, padded and cut as Stable Diffusion's pipeline
    tokenizes at sample time."""
    return tokenizer(
        prompts,
        padding="max_length",
        max_length=tokenizer.model_max_length,
        truncation=True,
        return_tensors="pt",
    ).input_ids
