"""The ``text`` extractor: per-snippet VADER + hashed words from subtitles, masked when absent."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from tsl300.io.subtitles import Cue

SHARED_CLIP = Path(__file__).resolve().parents[2] / "shared" / "media" / "clips" / "mp4.mp4"
needs_clip = pytest.mark.skipif(not SHARED_CLIP.is_file(), reason="../shared/media/clips/mp4.mp4 not present")


def test_vader_scores_sign_and_empty_text():
    from tsl300.extractors.text import vader_scores

    s = vader_scores(["I love this, it is wonderful!", "This is terrible and sad.", ""])
    assert s[0, 3] > 0.5 and s[1, 3] < -0.5
    np.testing.assert_allclose(s[:2, :3].sum(1), 1.0, atol=2e-3)   # neg + neu + pos
    assert not s[2].any()


def test_hashed_words_are_stable_signed_and_normalised():
    from tsl300.extractors.text import hashed_words

    h = hashed_words(["Genius genius", "genius", "You're a genius", ""], dim=64)
    np.testing.assert_allclose(np.linalg.norm(h[:3], axis=1), 1.0, atol=1e-6)
    col = np.flatnonzero(h[1])
    assert len(col) == 1 and abs(h[1, col[0]]) == pytest.approx(1.0)
    np.testing.assert_allclose(h[0], h[1])                     # case folded; counts normalised
    assert h[2, col[0]] == pytest.approx(h[1, col[0]] / np.sqrt(3))
    assert not h[3].any()
    np.testing.assert_array_equal(h, hashed_words(["Genius genius", "genius", "You're a genius", ""], dim=64))


def test_text_features_weight_cues_by_overlap():
    from tsl300.extractors.text import cue_features, text_features

    cues = [Cue(0.0, 0.96, "I love it"), Cue(0.96, 1.28, "I hate it")]   # fps 25: 0.64 s snippets
    x = text_features(cues, 4, 25.0, dim=8)
    f = cue_features([c.text for c in cues], dim=8)
    assert x.shape == (4, 1 + 4 + 8)
    np.testing.assert_allclose(x[:, 0], [1.0, 1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(x[0, 1:], f[0], atol=1e-6)
    np.testing.assert_allclose(x[1, 1:], 0.5 * f[0] + 0.5 * f[1], atol=1e-6)
    assert not x[2:].any()
    assert not text_features([], 3, 25.0, dim=8).any()


def test_registered_with_a_spec_that_round_trips():
    from tsl300.extractors import available_extractors, get_extractor
    from tsl300.featurize import extractor_from_spec

    assert "text" in available_extractors()
    spec = get_extractor("text", hash_dim=32).spec()
    assert spec.modality == "text" and spec.input == "text" and spec.shape == (37,)
    assert spec.columns[:5] == ("coverage", "vader_neg", "vader_neu", "vader_pos", "vader_compound")
    rebuilt = extractor_from_spec(spec.to_dict())
    assert rebuilt.hash_dim == 32 and rebuilt.spec() == spec


@needs_clip
def test_extract_video_with_sidecar_bad_cue_and_without_subtitles(tmp_path):
    from tsl300.extractors import extract_video

    video = tmp_path / "talk.mp4"
    shutil.copy(SHARED_CLIP, video)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        none = extract_video(video, ["text"])
    assert none.missing == ("text",) and not none.features["text"].any()

    (tmp_path / "talk.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nWonderful, I love it!\n\n"
                                       "2\n00:00:0x,000 --> 00:00:02,000\nbroken\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"talk\.srt: cue 2"):
        r = extract_video(video, ["text"])
    x = r.features["text"]
    assert r.missing == () and x.shape[0] == r.n_snippets
    first = int(np.floor(1.0 * r.fps / 16))          # snippets fully inside the cue
    assert (x[:first, 0] == 1.0).all() and (x[:first, 4] > 0.5).all()
    assert not x[first + 1:].any()
    assert any("talk.srt: cue 2" in w for w in r.warnings)


@needs_clip
def test_other_language_transcript_is_masked_with_a_warning(tmp_path):
    from tsl300.extractors import extract_video, get_extractor

    video = tmp_path / "v.mp4"
    shutil.copy(SHARED_CLIP, video)
    folder = tmp_path / "transcripts"
    folder.mkdir()
    (folder / "v.json").write_text(json.dumps({"language": "de", "segments": [
        {"start": 0.0, "end": 2.0, "text": "Das ist wunderbar"}]}), encoding="utf-8")
    with pytest.warns(UserWarning, match="English only"):
        r = extract_video(video, [get_extractor("text", transcripts=str(folder))])
    assert r.missing == ("text",) and not r.features["text"].any()


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    """A tiny random BERT and its word-piece tokenizer, saved as a local folder (no download)."""
    torch = pytest.importorskip("torch")
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bert")
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "i", "love", "hate", "it", "this"]) + "\n")
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16, max_position_embeddings=32)).save_pretrained(folder)
    return str(folder)


def test_encoder_embeddings_are_masked_means_and_named_in_the_spec(tiny_encoder, tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from tsl300.errors import CheckpointError
    from tsl300.extractors import get_extractor
    from tsl300.extractors.text import sentence_embeddings, text_features
    from tsl300.featurize import extractor_from_spec

    texts = ["I love it", "I hate this love it"]
    got = sentence_embeddings(texts, tiny_encoder, batch=1)
    tok, model = AutoTokenizer.from_pretrained(tiny_encoder), AutoModel.from_pretrained(tiny_encoder).eval()
    with torch.no_grad():
        want = [model(**tok(t, return_tensors="pt")).last_hidden_state[0].mean(0).numpy() for t in texts]
    np.testing.assert_allclose(got, np.stack(want), atol=1e-5)   # padding in a batch would not change it
    np.testing.assert_allclose(sentence_embeddings(texts, tiny_encoder, batch=2), got, atol=1e-5)

    spec = get_extractor("text", hash_dim=16, encoder=tiny_encoder).spec()
    assert spec.shape == (1 + 4 + 16 + 8,) and spec.params["encoder"] == tiny_encoder
    assert spec.columns[-1] == "emb_7"
    assert extractor_from_spec(spec.to_dict()).spec() == spec
    x = text_features([Cue(0.0, 0.64, "I love it")], 2, 25.0, dim=16, encoder=tiny_encoder)
    np.testing.assert_allclose(x[0, 21:], got[0], atol=1e-5)
    assert not x[1].any()
    with pytest.raises(CheckpointError, match="cannot load the text encoder"):
        text_features([], 1, 25.0, encoder=str(tmp_path / "nowhere"))
