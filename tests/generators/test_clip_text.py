"""The character-level CLIP tokenizer and text encoder config build and reload offline."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from generators.images.clip_text import char_vocab, text_encoder_config, write_char_tokenizer


def test_the_tokenizer_reloads_and_splits_prompts_into_characters(tmp_path):
    from transformers import CLIPTokenizer

    write_char_tokenizer(tmp_path, max_length=16)
    tokenizer = CLIPTokenizer.from_pretrained(tmp_path, local_files_only=True)
    ids = tokenizer("A digit 7", padding="max_length", truncation=True).input_ids
    tokens = tokenizer.convert_ids_to_tokens(ids)
    assert len(ids) == tokenizer.model_max_length == 16
    # lower-cased, one token per character, the word's last one marked as its end
    assert tokens[:9] == [
        "<|startoftext|>",
        "a</w>",
        "d",
        "i",
        "g",
        "i",
        "t</w>",
        "7</w>",
        "<|endoftext|>",
    ]
    assert tokenizer.unk_token_id not in ids[1:8]


def test_unknown_characters_become_the_unknown_token(tmp_path):
    tokenizer = write_char_tokenizer(tmp_path, alphabet="ab")
    assert tokenizer("c").input_ids[1] == tokenizer.unk_token_id
    assert set(char_vocab("ab")) == {"<|startoftext|>", "<|endoftext|>", "a", "b", "a</w>", "b</w>"}


def test_the_text_encoder_config_matches_the_tokenizer(tmp_path):
    import torch
    from transformers import CLIPTextModel

    tokenizer = write_char_tokenizer(tmp_path, max_length=12)
    encoder = CLIPTextModel(text_encoder_config(tokenizer, hidden_size=16, layers=1, heads=2))
    ids = tokenizer(
        ["a cat", "a photo of a dog"], padding="max_length", truncation=True, return_tensors="pt"
    ).input_ids
    with torch.no_grad():
        hidden = encoder(ids).last_hidden_state
    assert hidden.shape == (2, 12, 16)
