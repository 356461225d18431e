"""Offline SHD stand-in: synthetic "spoken digit" spike trains in the real SHD h5 layout.

The Spiking Heidelberg Digits (Cramer et al. 2020) are recordings of spoken digits passed through
a cochlea model with 700 channels. Nothing here downloads them, so the book can train on spike
patterns that this module generates from a seed and writes in exactly the SHD layout, so the one
reader in :mod:`elm.data.shd` serves both.

What the generator imitates, and why:

* **Tonotopy.** Channel 0 is the cochlear base (high frequency), 699 the apex (low frequency), as
  in SHD. Vowel formants lie on units ~290-690, consonant bursts on units ~40-370, and a low
  "voicing" band near the apex is present in every word (it carries no class information).
* **Words made of syllables.** A syllable is an optional consonant burst followed by three
  formant bands whose centres move linearly (formant transitions), with rising and falling
  envelopes; words are 2-3 syllables separated by short silences. The 10 "English" words are
  random syllable sequences; each "German" word is an English word of a *different* digit played
  backwards. Such a pair has the same time-summed spectrum, so telling them apart needs the
  order of events: the task cannot be solved from one time bin or from total counts alone.
* **Speakers.** Each speaker has a formant/pitch shift (channels), a tempo and a loudness;
  every utterance adds jitter to those, a random onset (20-170 ms) and per-syllable formant
  jitter. Test speakers (4 and 5, the two speakers SHD holds out) never occur in the train file.
* **Background.** Spontaneous spikes on all channels at a low rate.

Spikes are drawn as point events (not from a dense rate map), so generation is fast: the default
1,200 samples (~2,700 spikes each) take one to two seconds. Spike times are quantised to the 24 kHz
grid of the cochlea model, as in SHD; background spikes run to 1.3 s and slow speakers' words can
pass 1 s, and the reader cuts both at 1 s like real late spikes.

How hard it is (held-out test speakers, 50 ms bins, channels pooled by 10, logistic regression):
the best single time bin gives ~0.16 accuracy, time-summed counts ~0.27, the whole binned
sequence ~0.65 (checked in ``tests/test_shd_data.py``); the lauscher-encoded real recordings
(500 train / 180 test) give ~0.29 / ~0.39 / ~0.58 under the same probe.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

GENERATOR_VERSION = 1  # bump when the output for a given seed changes
N_CHANNELS = 700
N_DIGITS = 10
N_SPEAKERS = 12
TEST_SPEAKERS = (4, 5)  # as SHD: these two speakers appear only in the test file
TIME_GRID_HZ = 24_000  # the cochlea model's output rate: spike times lie on this grid
MAX_TIME_S = 1.3
N_SYLLABLES = 8  # size of the syllable inventory words are built from
GERMAN_SOURCE_SHIFT = 3  # German digit d = English digit (d + 3) % 10, reversed
KEYS = [f"{lang} {name}".encode() for lang in ("english", "german")
        for name in ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                     "nine")]


# --------------------------------------------------------------------------------------------
# the "language": syllables and words


@dataclass(frozen=True)
class Syllable:
    """One syllable: an optional consonant burst, then three moving formant bands."""

    duration_s: float  # vowel duration at tempo 1
    burst_s: float  # consonant burst duration (0: none)
    burst_lo: float  # burst channel range
    burst_hi: float
    start: tuple[float, float, float]  # formant centre channels at vowel onset
    end: tuple[float, float, float]  # ... and at vowel offset
    width: tuple[float, float, float]  # formant band widths (channel standard deviation)
    rate_hz: tuple[float, float, float]  # peak spike rate per channel of each formant


def make_syllables(rng: np.random.Generator, n: int = N_SYLLABLES) -> list[Syllable]:
    """A syllable inventory; formant ranges follow where speech lands in SHD (units ~300-690)."""
    out = []
    for _ in range(n):
        f_start = (rng.uniform(560, 650), rng.uniform(420, 540), rng.uniform(300, 410))
        f_end = tuple(float(np.clip(c + rng.uniform(-70, 70), 290, 670)) for c in f_start)
        has_burst = rng.random() < 0.7
        lo = rng.uniform(40, 250)
        out.append(Syllable(
            duration_s=float(rng.uniform(0.11, 0.2)),
            burst_s=float(rng.uniform(0.015, 0.045)) if has_burst else 0.0,
            burst_lo=float(lo), burst_hi=float(lo + rng.uniform(40, 120)),
            start=tuple(float(c) for c in f_start), end=f_end,
            width=tuple(float(w) for w in rng.uniform(5, 14, 3)),
            rate_hz=tuple(float(r) for r in rng.uniform(50, 110, 3)),
        ))
    return out


def make_words(rng: np.random.Generator, n_syllables: int = N_SYLLABLES) -> list[tuple[int, ...]]:
    """20 words (label order of SHD): 10 random English ones, then German = reversed English.

    English words are distinct, have 2-3 syllables and are not palindromes, so a reversed word
    differs from its source and (checked) from every English word.
    """
    english: list[tuple[int, ...]] = []
    while len(english) < N_DIGITS:
        word = tuple(int(s) for s in rng.choice(n_syllables, size=int(rng.integers(2, 4)),
                                                replace=False))
        if word in english or word[::-1] in english:
            continue
        english.append(word)
    german = [english[(d + GERMAN_SOURCE_SHIFT) % N_DIGITS][::-1] for d in range(N_DIGITS)]
    return english + german


# --------------------------------------------------------------------------------------------
# speakers and utterances


@dataclass(frozen=True)
class Speaker:
    shift: float  # formant/pitch shift in channels (positive: toward the apex, lower voice)
    tempo: float  # duration factor (> 1: slower)
    loudness: float  # spike rate factor


def make_speakers(rng: np.random.Generator, n: int = N_SPEAKERS) -> list[Speaker]:
    return [Speaker(shift=float(rng.uniform(-30, 30)), tempo=float(rng.uniform(0.85, 1.2)),
                    loudness=float(rng.uniform(0.7, 1.4))) for _ in range(n)]


def _strokes(word: tuple[int, ...], syllables: list[Syllable], speaker: Speaker,
             rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The events of one utterance as segments: formant bands and bursts.

    Returns ``bands`` rows (t0, t1, c0, c1, width, n_spikes) and ``bursts`` rows
    (t0, t1, lo, hi, n_spikes); the voicing band is one more formant row.
    """
    tempo = speaker.tempo * rng.uniform(0.92, 1.08)
    shift = speaker.shift + rng.normal(0, 4)
    loud = speaker.loudness * rng.uniform(0.85, 1.15)
    t = rng.uniform(0.02, 0.17)
    bands, bursts = [], []
    word_start = t
    for k, s in enumerate(word):
        syl = syllables[s]
        if k:
            t += rng.uniform(0.015, 0.06) * tempo  # silence between syllables
        if syl.burst_s:
            b1 = t + syl.burst_s * tempo
            n = rng.poisson(loud * 250 * (syl.burst_hi - syl.burst_lo) * (b1 - t) / 4)
            bursts.append((t, b1, syl.burst_lo + shift / 2, syl.burst_hi + shift / 2, n))
            t = b1
        t1 = t + syl.duration_s * tempo * rng.uniform(0.9, 1.1)
        jitter = rng.normal(0, 5, 3)
        for f in range(3):
            width = syl.width[f]
            # Beta(2, 2) envelope has mean height 2/3 of its peak; band area ~ 2.5 x width
            n = rng.poisson(loud * syl.rate_hz[f] * (t1 - t) * 2.5 * width * 2 / 3)
            bands.append((t, t1, syl.start[f] + shift + jitter[f], syl.end[f] + shift + jitter[f],
                          width, n))
        t = t1
    voicing = 675 + shift / 3
    bands.append((word_start, t, voicing, voicing, 4.0,
                  rng.poisson(loud * 60 * (t - word_start) * 10 * 2 / 3)))
    return np.array(bands, dtype=np.float64), np.array(bursts, dtype=np.float64).reshape(-1, 5)


def utterance(word: tuple[int, ...], syllables: list[Syllable], speaker: Speaker,
              rng: np.random.Generator, background_hz: float = 0.5) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """Spike times (float32 s, ascending, on the 24 kHz grid) and units (uint16) of one word."""
    bands, bursts = _strokes(word, syllables, speaker, rng)
    parts_t, parts_u = [], []
    n = bands[:, 5].astype(np.int64)
    row = np.repeat(np.arange(len(bands)), n)
    frac = rng.beta(2, 2, size=row.size)  # position within the band: rising then falling
    t0, t1, c0, c1, width = (bands[row, j] for j in range(5))
    parts_t.append(t0 + frac * (t1 - t0))
    parts_u.append(c0 + frac * (c1 - c0) + width * rng.standard_normal(row.size))
    n = bursts[:, 4].astype(np.int64)
    row = np.repeat(np.arange(len(bursts)), n)
    parts_t.append(rng.uniform(bursts[row, 0], bursts[row, 1]))
    parts_u.append(rng.uniform(bursts[row, 2], bursts[row, 3]))
    n_bg = rng.poisson(background_hz * N_CHANNELS * MAX_TIME_S)
    parts_t.append(rng.uniform(0, MAX_TIME_S, n_bg))
    parts_u.append(rng.uniform(0, N_CHANNELS, n_bg))
    times = np.round(np.concatenate(parts_t) * TIME_GRID_HZ) / TIME_GRID_HZ
    units = np.floor(np.concatenate(parts_u))
    keep = (units >= 0) & (units < N_CHANNELS) & (times >= 0) & (times < MAX_TIME_S)
    times, units = times[keep].astype(np.float32), units[keep].astype(np.uint16)
    order = np.lexsort((units, times))
    return times[order], units[order]


# --------------------------------------------------------------------------------------------
# data set


def speaker_lists(n_speakers: int = N_SPEAKERS) -> tuple[list[int], list[int]]:
    """Train and test speaker ids: test = SHD's held-out speakers 4 and 5."""
    test = [s for s in TEST_SPEAKERS if s < n_speakers]
    return [s for s in range(n_speakers) if s not in test], test


def generate(seed: int = 0, reps_train: int = 5, reps_test: int = 5
             ) -> dict[str, dict[str, np.ndarray]]:
    """Both files' contents: each (speaker, class) is spoken `reps_*` times.

    Defaults: 10 train speakers x 20 classes x 5 = 1,000 train samples, 2 test speakers x 20 x 5
    = 200 test samples. Sample order: repetition, then speaker, then class. Every utterance has
    its own generator seeded by (seed, split, index), so changing the sizes keeps the language and
    the speakers.
    """
    syllables = make_syllables(np.random.default_rng([seed, 0]))
    words = make_words(np.random.default_rng([seed, 1]))
    speakers = make_speakers(np.random.default_rng([seed, 2]))
    train_spk, test_spk = speaker_lists()
    out = {}
    for split_id, (name, spk_ids, reps) in enumerate(
            [("train", train_spk, reps_train), ("test", test_spk, reps_test)]):
        times, units, labels, spk = [], [], [], []
        for _rep in range(reps):
            for s in spk_ids:
                for label in range(2 * N_DIGITS):
                    rng = np.random.default_rng([seed, 3, split_id, len(labels)])
                    t, u = utterance(words[label], syllables, speakers[s], rng)
                    times.append(t)
                    units.append(u)
                    labels.append(label)
                    spk.append(s)
        out[name] = {"times": times, "units": units, "labels": np.array(labels, np.uint16),
                     "speaker": np.array(spk, np.uint16)}
    return out


def write_h5(path: Path, content: dict[str, np.ndarray], seed: int) -> None:
    """Write one file in the SHD layout, atomically (a temporary name, then a rename)."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            n = len(content["labels"])
            times = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float32))
            units = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
            for i in range(n):
                times[i] = content["times"][i]
                units[i] = content["units"][i]
            f.create_dataset("labels", data=content["labels"])
            f.create_dataset("extra/speaker", data=content["speaker"])
            f.create_dataset("extra/keys", data=np.array(KEYS, dtype="S13"))
            f.attrs["generator"] = "elm.data.shd_standin"
            f.attrs["generator_version"] = GENERATOR_VERSION
            f.attrs["seed"] = seed
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_stand_in(folder: str | Path, seed: int = 0, reps_train: int = 5,
                   reps_test: int = 5) -> Path:
    """Generate the stand-in and write ``shd_train.h5`` / ``shd_test.h5`` into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in generate(seed, reps_train, reps_test).items():
        write_h5(folder / f"shd_{name}.h5", content, seed)
    return folder
