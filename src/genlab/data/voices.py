"""Two voices reading disjoint sentences: built-in datasets made on this machine, and user WAV folders.

Built-ins (the sentences are in :mod:`genlab.data.voice_sentences`; WAVs cached at 16 kHz in
``~/.cache/genlab/<name>`` or ``$GENLAB_DATA/<name>``):

- ``recorded-voices``: two festival voices built from recordings of real speakers (Debian's
  ``festival``, ``festvox-kallpc16k`` and ``festvox-us-slt-hts``): A = ``kal_diphone`` (an American
  male, diphones cut from his recordings), B = ``cmu_us_slt_arctic_hts`` (the CMU ARCTIC speaker SLT,
  an American female, HTS). A reads 54 sentences, B 54 others; 20 held-out sentences are read by both.
- ``voices``: two espeak-ng voices (formant synthesis; small, for tests): A ``en-us+m3 -p 30`` (low),
  B ``en-us+f4 -p 80`` (high), 24 + 24 training sentences at two speaking rates, 12 held out.

User folders: ``DIR/trainA/*.wav`` and ``DIR/trainB/*.wav`` (optional ``testA/ testB/``, where files
with the same name are the same sentence, for evaluation; a ``NAME.txt`` beside ``testA/NAME.wav``
holds its words, for the word error rate); any rate, mono or stereo.

What the training loop gets: each clip (silence trimmed, at 16 kHz) is analysed by the vocoder
(:mod:`genlab.audio.vocoder`: WORLD's coded spectral envelope, or a log-mel without ``pyworld``) into
float features (D, T), normalised per speaker and per coefficient, z = (f - mean) / std, with that
speaker's training statistics; crops of ``segment`` frames (hop ``segment // 4``) are the rows, float32:
A in ``images`` (N, 1, D, segment), B in ``pair``, the same number of rows (the smaller side repeated
in a seeded order) but no correspondence. ``meta["voice"]`` holds the vocoder settings and both
speakers' feature and log-F0 statistics, which the model copies into its buffers.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import torch

from genlab.audio import vocoder as voc
from genlab.audio.features import trim_silence
from genlab.audio.pitch import logf0_stats
from genlab.audio.wav import load_audio, write_wav
from genlab.data import paths
from genlab.data.base import ImageData
from genlab.data.voice_sentences import MORE, SHORT
from genlab.errors import GenlabError

SAMPLE_RATE = 16000
CLIP = 5.0  # normalised features are clipped to [-CLIP, CLIP] (a safety bound: speech stays well inside)

ESPEAK = {"A": ["-v", "en-us+m3", "-p", "30"], "B": ["-v", "en-us+f4", "-p", "80"]}
TRAIN_RATES = (140, 175)  # espeak-ng words per minute: two readings of every training sentence
TEST_RATE = 155
TRAIN_A, TRAIN_B, HELD_OUT = SHORT[:24], SHORT[24:48], SHORT[48:]

FESTIVAL = {"A": "(voice_kal_diphone)", "B": "(voice_cmu_us_slt_arctic_hts)"}
FESTIVAL_PACKAGES = "festival festvox-kallpc16k festvox-us-slt-hts"
RECORDED = {"A": SHORT[:24] + MORE[:30], "B": SHORT[24:48] + MORE[30:60], "test": SHORT[48:] + MORE[60:]}


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def festival_available() -> bool:
    """text2wave and both voices' files (Debian's festival packages) are installed."""
    return shutil.which("text2wave") is not None and all(
        any(Path(p).glob(pattern))
        for p, pattern in (
            ("/usr/share/festival/voices/english", "kal_diphone"),
            ("/usr/share/festival/voices/us", "cmu_us_slt_arctic_hts"),
        )
    )


# ---- rendering the built-ins ----


def _speak(command: list[str], text: str, path: Path, what: str, install: str) -> Path:
    """Run a text-to-speech ``command`` (writing ``{out}``) and store the result at 16 kHz in ``path``."""
    if path.exists():
        return path
    if shutil.which(command[0]) is None:
        raise GenlabError(f"{what} is made with {command[0]}, which is not installed: sudo apt-get install {install}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wav"
        (Path(tmp) / "text.txt").write_text(text + "\n")
        args = [a.replace("{out}", str(out)).replace("{text}", str(Path(tmp) / "text.txt")) for a in command]
        try:
            subprocess.run(args, check=True, capture_output=True, timeout=120)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            raise GenlabError(f"{command[0]} failed on '{text}' ({e}); check: sudo apt-get install {install}") from None
        write_wav(path, load_audio(out, SAMPLE_RATE), SAMPLE_RATE)  # atomic: never a half-written clip
    return path


def voice_files(split: str) -> dict:
    """``voices``: {"A": [wav paths], "B": [...], "texts_A": [...], "texts_B": [...]}; test: the same sentences."""
    root = paths.cache_dir("voices")
    out: dict[str, list] = {}
    for voice, texts in (("A", TRAIN_A), ("B", TRAIN_B)):
        texts, rates = (HELD_OUT, (TEST_RATE,)) if split == "test" else (texts, TRAIN_RATES)
        files, said = [], []
        for i, text in enumerate(texts):
            for rate in rates:
                cmd = ["espeak-ng", *ESPEAK[voice], "-s", str(rate), "-w", "{out}", text]
                files.append(
                    _speak(cmd, text, root / f"{voice}_{split}_{i:02d}_{rate}.wav", "the 'voices' dataset", "espeak-ng")
                )
                said.append(text)
        out[voice], out[f"texts_{voice}"] = files, said
    return out


def recorded_files(split: str) -> dict:
    """``recorded-voices``: the same layout as :func:`voice_files`, read by the two festival voices."""
    if not festival_available():
        raise GenlabError(
            "the 'recorded-voices' dataset is read by Debian's festival voices, which are not "
            f"installed: sudo apt-get install {FESTIVAL_PACKAGES}"
        )
    root = paths.cache_dir("recorded-voices")
    out: dict[str, list] = {}
    for voice in "AB":
        texts = RECORDED["test"] if split == "test" else RECORDED[voice]
        cmd = ["text2wave", "-eval", FESTIVAL[voice], "{text}", "-o", "{out}"]
        out[voice] = [
            _speak(cmd, text, root / f"{voice}_{split}_{i:02d}.wav", "the 'recorded-voices' dataset", FESTIVAL_PACKAGES)
            for i, text in enumerate(texts)
        ]
        out[f"texts_{voice}"] = list(texts)
    return out


# ---- clips to features ----


def read_clips(files, sample_rate: int = SAMPLE_RATE) -> list[np.ndarray]:
    """WAV files as float32 mono at ``sample_rate``, leading and trailing silence trimmed."""
    return [trim_silence(load_audio(f, sample_rate), sample_rate) for f in files]


def _cache_key(x: np.ndarray, s: voc.VocoderSettings) -> str:
    h = hashlib.sha256(x.tobytes())
    h.update(json.dumps(voc.settings_dict(s), sort_keys=True).encode())
    return h.hexdigest()[:24]


def analyse_clips(clips, s: voc.VocoderSettings) -> list[voc.Analysis]:
    """Features and F0 of each clip; cached on disk by the clip's samples and the settings (npz, no pickle)."""
    root = paths.cache_dir("voice-features")
    out = []
    for x in clips:
        path = root / f"{_cache_key(x, s)}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                out.append(voc.Analysis(z["features"], z["f0"]))
            continue
        a = voc.analyse(x, s)
        paths.atomic_write(path, partial(_save_analysis, a))
        out.append(voc.Analysis(a.features, a.f0))
    return out


def _save_analysis(a: voc.Analysis, f) -> None:
    np.savez(f, features=a.features, f0=a.f0)


def speaker_stats(analyses: list[voc.Analysis]) -> dict:
    """Per-coefficient mean/std of one speaker's features (all frames of the trimmed clips), log-F0 mean/std."""
    allf = np.concatenate([a.features for a in analyses], 1).astype(np.float64)
    return {
        "mean": allf.mean(1).tolist(),
        "std": np.maximum(allf.std(1), 1e-3).tolist(),
        "logf0": list(logf0_stats([a.f0 for a in analyses])),
    }


def normalise(features: np.ndarray, stats: dict) -> torch.Tensor:
    """Features (D, T) -> float32 z-scores (D, T) by the speaker's statistics, clipped to [-CLIP, CLIP]."""
    z = (features - np.asarray(stats["mean"])[:, None]) / np.asarray(stats["std"])[:, None]
    return torch.from_numpy(np.clip(z, -CLIP, CLIP).astype(np.float32))


def segments(spec: torch.Tensor, length: int) -> torch.Tensor:
    """(D, T) -> (K, 1, D, length) crops with hop length // 4 (a short clip is padded by repetition)."""
    if spec.shape[1] < length:
        spec = spec.repeat(1, length // spec.shape[1] + 1)
    starts = range(0, spec.shape[1] - length + 1, length // 4)
    return torch.stack([spec[:, s : s + length] for s in starts]).unsqueeze(1)


def build_voice_data(
    name: str, feats_a, feats_b, stats: dict, s: voc.VocoderSettings, split: str, extra_meta: dict | None = None
) -> ImageData:
    """Segments of two speakers' analysed clips as one unpaired float ImageData (A in images, B in pair)."""
    rows = []
    for feats, st in ((feats_a, stats["A"]), (feats_b, stats["B"])):
        rows.append(torch.cat([segments(normalise(f.features, st), s.segment) for f in feats]))
    a, b = rows
    g = torch.Generator().manual_seed(0)
    n = max(len(a), len(b))
    a, b = (_repeat_to(t, n, g) for t in (a, b))
    meta = {
        "unpaired": True,
        "split": split,
        "voice": {"vocoder": voc.settings_dict(s), "clip": CLIP, "segment": s.segment, **stats},
    }
    meta.update(extra_meta or {})
    return ImageData(name, a, pair=b, meta=meta)


def _repeat_to(t: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    if len(t) == n:
        return t
    extra = torch.randint(0, len(t), (n - len(t),), generator=g)
    return torch.cat([t, t[extra]])


def _load(name: str, files_of, split: str) -> ImageData:
    s = voc.default_settings()
    stats = _builtin_stats(name, s)
    files = files_of(split)
    feats_a, feats_b = (analyse_clips(read_clips(files[v]), s) for v in "AB")
    texts = {"texts_A": files["texts_A"], "texts_B": files["texts_B"]}
    return build_voice_data(name, feats_a, feats_b, stats, s, split, texts)


@lru_cache(maxsize=4)
def _builtin_stats(name: str, s: voc.VocoderSettings) -> dict:
    files = BUILTIN_FILES[name]("train")
    return {v: speaker_stats(analyse_clips(read_clips(files[v]), s)) for v in "AB"}


def load_voices(split: str = "train") -> ImageData:
    """The built-in ``voices`` dataset (espeak-ng; see the module docstring)."""
    return _load("voices", voice_files, split)


def load_recorded_voices(split: str = "train") -> ImageData:
    """The built-in ``recorded-voices`` dataset (festival's kal and SLT; see the module docstring)."""
    return _load("recorded-voices", recorded_files, split)


BUILTIN_FILES = {"voices": voice_files, "recorded-voices": recorded_files}


# ---- user folders of WAV files ----


def is_voice_folder(path) -> bool:
    """A folder with ``trainA/`` holding WAV files."""
    folder = Path(path) / "trainA"
    return folder.is_dir() and any(p.suffix.lower() == ".wav" for p in folder.iterdir())


def list_wavs(folder: Path) -> list[Path]:
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".wav" and not p.name.startswith(".")
    )
    if not files:
        raise GenlabError(f"{folder} holds no .wav files; put the voice's recordings there")
    return files


def folder_files(path, split: str) -> dict:
    """{"A": [...], "B": [...]}: ``{split}A/ {split}B/`` (test falls back to train when absent)."""
    path = Path(path)
    source = split if (path / f"{split}A").is_dir() and (path / f"{split}B").is_dir() else "train"
    out: dict = {}
    for v in "AB":
        folder = path / f"{source}{v}"
        if not folder.is_dir():
            raise GenlabError(
                f"{path} has no {source}{v}/ folder; a voice folder needs trainA/ and trainB/ of WAV files"
            )
        out[v] = list_wavs(folder)
    out["source"] = source
    return out


def load_voice_folder(path, split: str = "train") -> ImageData:
    """``DIR/trainA/*.wav`` + ``DIR/trainB/*.wav`` as an unpaired voice ImageData (statistics from train)."""
    s = voc.default_settings()
    path = Path(path)
    train = folder_files(path, "train")
    stats = {v: speaker_stats(analyse_clips(read_clips(train[v]), s)) for v in "AB"}
    files = folder_files(path, split) if split != "train" else train
    feats_a, feats_b = (analyse_clips(read_clips(files[v]), s) for v in "AB")
    return build_voice_data(str(path), feats_a, feats_b, stats, s, split, {"split_source": files["source"]})


def paired_test_clips(data_name: str) -> tuple[list, list, list[str], list[str] | None]:
    """(A clips, B clips, names, texts or None) of sentences read by both voices, at 16 kHz, trimmed.

    The held-out set of a built-in, or same-name files in a folder's testA/ and testB/ (texts from
    ``testA/NAME.txt`` when every clip has one).
    """
    if data_name in BUILTIN_FILES:
        files = BUILTIN_FILES[data_name]("test")
        return read_clips(files["A"]), read_clips(files["B"]), files["texts_A"], files["texts_A"]
    path = Path(data_name)
    if not ((path / "testA").is_dir() and (path / "testB").is_dir()):
        raise GenlabError(
            f"{path} has no testA/ and testB/ folders; the voice metrics need the same sentences "
            "read by both voices, as files with the same names in testA/ and testB/"
        )
    a = {p.name: p for p in list_wavs(path / "testA")}
    b = {p.name: p for p in list_wavs(path / "testB")}
    names = sorted(set(a) & set(b))
    if len(names) < 2:
        raise GenlabError(
            f"testA/ and testB/ in {path} share {len(names)} file names; the voice metrics need at "
            "least 2 sentences read by both voices (same file name in both folders)"
        )
    text_files = [a[n].with_suffix(".txt") for n in names]
    texts = [t.read_text().strip() for t in text_files] if all(t.is_file() for t in text_files) else None
    return read_clips([a[n] for n in names]), read_clips([b[n] for n in names]), names, texts


def train_clips(data_name: str) -> tuple[list, list]:
    """Real training clips of each voice (for the speaker model)."""
    files = BUILTIN_FILES[data_name]("train") if data_name in BUILTIN_FILES else folder_files(data_name, "train")
    return read_clips(files["A"]), read_clips(files["B"])
