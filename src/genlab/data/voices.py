"""Voices: two synthetic speakers made on this machine with espeak-ng, and user folders of WAV files.

The built-in ``voices`` dataset (Debian's ``espeak-ng`` must be installed):

- voice A: ``espeak-ng -v en-us+m3 -p 30`` (a low male voice, F0 near 85 Hz);
- voice B: ``espeak-ng -v en-us+f4 -p 80`` (a high female voice, F0 near 245 Hz).

Of the 60 sentences below, A reads the first 24 and B the next 24 for training (no sentence is read
by both, so there are no pairs), each at two speaking rates; the last 12 are read by both, at one
rate, and are used only for evaluation (the "test" split). WAVs are cached in
``~/.cache/genlab/voices`` (or ``$GENLAB_DATA/voices``).

User folders: ``DIR/trainA/*.wav`` and ``DIR/trainB/*.wav`` (optional ``testA/ testB/``, where files
with the same name are the same sentence, for evaluation); any rate, mono or stereo.

How the clips become the ImageData the one training loop takes (uint8 images): each clip (silence
trimmed, at 16 kHz) becomes a log-mel spectrogram (:mod:`genlab.audio.features`), normalised per
speaker and per mel band to z = (logmel - mean) / std with the speaker's training statistics, clipped to
[-CLIP, CLIP] and quantised as uint8 round((z / CLIP + 1) / 2 * 255) (a step of 0.024 std). Fixed-length
crops of ``SEGMENT`` frames (hop ``SEGMENT // 4``) are the rows: A in ``images`` (N, 1, n_mels, SEGMENT),
B in ``pair``, with the same number of rows (the smaller side repeated in a seeded order) but no
correspondence. ``meta["voice"]`` holds the feature settings and both speakers' mel and log-F0
statistics, which the model copies into its buffers (so they are saved with its weights).
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from genlab.audio.features import FeatureConfig, log_mel, trim_silence
from genlab.audio.pitch import estimate_f0, logf0_stats
from genlab.audio.wav import load_audio, write_wav
from genlab.data import paths
from genlab.data.base import ImageData
from genlab.errors import GenlabError

SEGMENT = 64  # frames per training crop: 0.51 s at hop 128 / 16 kHz
CLIP = 3.0  # normalised log-mel values are clipped to [-CLIP, CLIP] before quantising
VOICES = {"A": ["-v", "en-us+m3", "-p", "30"], "B": ["-v", "en-us+f4", "-p", "80"]}
TRAIN_RATES = (140, 175)  # words per minute: two readings of every training sentence
TEST_RATE = 155

SENTENCES = [
    # read by voice A for training
    "The quick brown fox jumps over the lazy dog.", "She sells sea shells by the sea shore.",
    "A cup of warm tea helps me think.", "The train leaves the station at noon.",
    "My brother plays the guitar every evening.", "Rain fell softly on the tin roof.",
    "Please close the window before you leave.", "The old clock in the hall stopped at midnight.",
    "We planted tomatoes in the garden last spring.", "He forgot his umbrella on the bus.",
    "The children built a castle out of sand.", "A bright moon rose over the quiet lake.",
    "Turn left at the bakery and walk two blocks.", "The library opens early on Saturday.",
    "Our neighbour keeps three noisy geese.", "The soup needs a little more salt.",
    "Bring a warm coat, the night will be cold.", "The painter mixed blue and yellow to make green.",
    "Five small boats sailed into the harbour.", "I can hear the birds singing outside.",
    "The baker sells fresh bread every morning.", "They walked along the river until sunset.",
    "The kettle whistled loudly in the kitchen.", "A gentle wind moved the tall grass.",
    # read by voice B for training
    "The museum shows paintings from many countries.", "Her cat sleeps on the sunny windowsill.",
    "We missed the first bus and waited an hour.", "The farmer counted his sheep twice.",
    "A red kite flew high above the hill.", "The doctor asked him to rest for a week.",
    "Snow covered the village during the night.", "The band practised in the empty garage.",
    "Fresh lemons make the best lemonade.", "The pilot greeted the passengers warmly.",
    "My grandmother tells wonderful stories.", "The road to the coast winds through the forest.",
    "Someone left the lights on in the office.", "The team celebrated their first victory.",
    "Thick fog rolled in from the sea.", "The student solved the puzzle in minutes.",
    "A small dog barked at the postman.", "The market is busy on Friday afternoons.",
    "He painted the fence a bright white.", "The stars were clear above the desert.",
    "Water the plants before the sun gets hot.", "The letter arrived three days late.",
    "We cooked dinner over an open fire.", "The mountain path was steep and narrow.",
    # read by both voices, for evaluation only
    "The engineer fixed the broken bridge.", "Light travels faster than sound.",
    "Please pass me the bowl of cherries.", "The orchestra tuned their instruments quietly.",
    "A yellow taxi stopped at the corner.", "The sailors sang as they pulled the ropes.",
    "My friend lost her keys in the park.", "The wooden chair creaked under his weight.",
    "Bees buzzed around the flowering tree.", "The shop closes at six in the evening.",
    "Listen carefully to the teacher's words.", "An owl called from the dark woods.",
]
TRAIN_A, TRAIN_B, HELD_OUT = SENTENCES[:24], SENTENCES[24:48], SENTENCES[48:]


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def _render(voice: str, text: str, rate: int, path: Path) -> Path:
    if not path.exists():
        if not espeak_available():
            raise GenlabError("the 'voices' dataset is made with espeak-ng, which is not installed: "
                              "sudo apt-get install espeak-ng (Debian/Ubuntu)")
        tmp = path.with_suffix(".tmp.wav")
        try:
            subprocess.run(["espeak-ng", *VOICES[voice], "-s", str(rate), "-w", str(tmp), text], check=True,
                           capture_output=True, timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            raise GenlabError(f"espeak-ng failed on '{text}' ({e}); check the espeak-ng installation") from None
        # stored at the feature rate (espeak-ng writes 22.05 kHz), so later loads need no resampling
        write_wav(path, load_audio(tmp, FeatureConfig().sample_rate), FeatureConfig().sample_rate)
        tmp.unlink()
    return path


def voice_files(split: str) -> dict:
    """{"A": [wav paths], "B": [...], "texts_A": [...], "texts_B": [...]}; test: the same sentences, in order."""
    root = paths.cache_dir("voices")
    out = {}
    for voice, texts in (("A", TRAIN_A), ("B", TRAIN_B)):
        if split == "test":
            texts, rates = HELD_OUT, (TEST_RATE,)
        else:
            rates = TRAIN_RATES
        files, said = [], []
        for i, text in enumerate(texts):
            for rate in rates:
                files.append(_render(voice, text, rate, root / f"{voice}_{split}_{i:02d}_{rate}.wav"))
                said.append(text)
        out[voice], out[f"texts_{voice}"] = files, said
    return out


def read_clips(files, cfg: FeatureConfig) -> list[np.ndarray]:
    """WAV files as float32 mono at the feature rate, leading and trailing silence trimmed."""
    return [trim_silence(load_audio(f, cfg.sample_rate), cfg.sample_rate) for f in files]


def speaker_stats(clips: list[np.ndarray], cfg: FeatureConfig) -> dict:
    """Per-band mean/std of the log-mel over non-silent frames, and the log-F0 mean/std of one speaker."""
    frames = []
    for x in clips:
        lm = log_mel(x, cfg)
        energy = lm.max(0).values
        frames.append(lm[:, energy > energy.max() - 6.0])
    allf = torch.cat(frames, 1)
    f0 = [estimate_f0(x, cfg.sample_rate, cfg.hop) for x in clips]
    return {"mel_mean": allf.mean(1).tolist(), "mel_std": allf.std(1).clamp_min(1e-3).tolist(),
            "logf0": list(logf0_stats(f0))}


def quantise(logmel: torch.Tensor, mean, std) -> torch.Tensor:
    """Log-mel (n_mels, T) -> uint8 (n_mels, T) by the speaker's statistics (see the module docstring)."""
    z = (logmel - torch.as_tensor(mean)[:, None]) / torch.as_tensor(std)[:, None]
    return ((z.clamp(-CLIP, CLIP) / CLIP + 1) * 0.5 * 255).round().to(torch.uint8)


def segments(spec: torch.Tensor, length: int = SEGMENT) -> torch.Tensor:
    """uint8 (n_mels, T) -> (K, 1, n_mels, length) crops with hop length // 4 (a short clip is padded by repetition)."""
    if spec.shape[1] < length:
        spec = spec.repeat(1, length // spec.shape[1] + 1)
    starts = range(0, spec.shape[1] - length + 1, length // 4)
    return torch.stack([spec[:, s:s + length] for s in starts]).unsqueeze(1)


def build_voice_data(name: str, clips_a, clips_b, stats: dict, cfg: FeatureConfig, split: str,
                     extra_meta: dict | None = None) -> ImageData:
    """Segments of two speakers' clips as one unpaired ImageData (A in images, B in pair)."""
    rows = []
    for clips, s in ((clips_a, stats["A"]), (clips_b, stats["B"])):
        rows.append(torch.cat([segments(quantise(log_mel(x, cfg), s["mel_mean"], s["mel_std"])) for x in clips]))
    a, b = rows
    g = torch.Generator().manual_seed(0)
    n = max(len(a), len(b))
    a, b = (_repeat_to(t, n, g) for t in (a, b))
    meta = {"unpaired": True, "split": split,
            "voice": {"features": dataclasses.asdict(cfg), "clip": CLIP, "segment": SEGMENT, **stats}}
    meta.update(extra_meta or {})
    return ImageData(name, a, pair=b, meta=meta)


def _repeat_to(t: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    if len(t) == n:
        return t
    extra = torch.randint(0, len(t), (n - len(t),), generator=g)
    return torch.cat([t, t[extra]])


@lru_cache(maxsize=2)
def _voices_stats() -> dict:
    cfg = FeatureConfig()
    files = voice_files("train")
    return {v: speaker_stats(read_clips(files[v], cfg), cfg) for v in "AB"}


def load_voices(split: str = "train") -> ImageData:
    """The built-in ``voices`` dataset (see the module docstring); test = the held-out sentences, read by both."""
    cfg = FeatureConfig()
    files = voice_files(split)
    stats = _voices_stats()
    return build_voice_data("voices", read_clips(files["A"], cfg), read_clips(files["B"], cfg), stats, cfg, split,
                            {"texts_A": files["texts_A"], "texts_B": files["texts_B"]})


# ---- user folders of WAV files ----

def is_voice_folder(path) -> bool:
    """A folder with ``trainA/`` holding WAV files."""
    folder = Path(path) / "trainA"
    return folder.is_dir() and any(p.suffix.lower() == ".wav" for p in folder.iterdir())


def list_wavs(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".wav"
                   and not p.name.startswith("."))
    if not files:
        raise GenlabError(f"{folder} holds no .wav files; put the voice's recordings there")
    return files


def folder_files(path, split: str) -> dict:
    """{"A": [...], "B": [...]}: ``{split}A/ {split}B/`` (test falls back to train when absent)."""
    path = Path(path)
    source = split if (path / f"{split}A").is_dir() and (path / f"{split}B").is_dir() else "train"
    out = {}
    for v in "AB":
        folder = path / f"{source}{v}"
        if not folder.is_dir():
            raise GenlabError(f"{path} has no {source}{v}/ folder; a voice folder needs trainA/ and trainB/ of WAV files")
        out[v] = list_wavs(folder)
    out["source"] = source
    return out


def load_voice_folder(path, split: str = "train") -> ImageData:
    """``DIR/trainA/*.wav`` + ``DIR/trainB/*.wav`` as an unpaired voice ImageData (statistics from train)."""
    cfg = FeatureConfig()
    path = Path(path)
    train = folder_files(path, "train")
    stats = {v: speaker_stats(read_clips(train[v], cfg), cfg) for v in "AB"}
    files = folder_files(path, split) if split != "train" else train
    return build_voice_data(str(path), read_clips(files["A"], cfg), read_clips(files["B"], cfg), stats, cfg, split,
                            {"split_source": files["source"]})


def paired_test_clips(data_name: str, cfg: FeatureConfig) -> tuple[list, list, list[str]]:
    """(A clips, B clips, names) of sentences read by both voices: the held-out set, or testA/testB same-name files."""
    if data_name == "voices":
        files = voice_files("test")
        return read_clips(files["A"], cfg), read_clips(files["B"], cfg), files["texts_A"]
    path = Path(data_name)
    if not ((path / "testA").is_dir() and (path / "testB").is_dir()):
        raise GenlabError(f"{path} has no testA/ and testB/ folders; the voice metrics need the same sentences "
                          "read by both voices, as files with the same names in testA/ and testB/")
    a = {p.name: p for p in list_wavs(path / "testA")}
    b = {p.name: p for p in list_wavs(path / "testB")}
    names = sorted(set(a) & set(b))
    if len(names) < 2:
        raise GenlabError(f"testA/ and testB/ in {path} share {len(names)} file names; the voice metrics need at "
                          "least 2 sentences read by both voices (same file name in both folders)")
    return read_clips([a[n] for n in names], cfg), read_clips([b[n] for n in names], cfg), names


def train_clips(data_name: str, cfg: FeatureConfig) -> tuple[list, list]:
    """Real training clips of each voice (for the speaker classifier)."""
    files = voice_files("train") if data_name == "voices" else folder_files(data_name, "train")
    return read_clips(files["A"], cfg), read_clips(files["B"], cfg)
