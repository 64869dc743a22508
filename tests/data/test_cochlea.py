"""data/cochlea.py against lauscher, the SHD authors' own implementation (the PyPI package, test extra).

Deterministic stages (front end, basilar membrane, hair cell, the bushy cell's LIF for given fibre spikes) must
agree to float rounding; the random fibres must agree in distribution, tested so that a dead time off by one
step or a wrong bushy-cell weight would fail. Small on purpose: 24 channels of a 0.2 s clip.
"""

from __future__ import annotations

import numpy as np
import pytest

from spacetime_snn.data import cochlea

lauscher = pytest.importorskip("lauscher", reason="the reference implementation (pip install -e '.[test]')")
from lauscher.audiowaves import MonoAudioWave  # noqa: E402
from lauscher.firing_probability import FiringProbability  # noqa: E402
from lauscher.helpers import CommandLineArguments  # noqa: E402
from lauscher.membranevelocity import MembraneVelocity  # noqa: E402
from lauscher.transformations import BasilarMembrane, BushyCell, HairCell, HanningWindow, RmsNormalizer  # noqa: E402

RATE = 22050
CHANNELS = 24


@pytest.fixture(scope="module", autouse=True)
def one_lauscher_worker():
    """lauscher maps channels over a multiprocessing Pool; one worker keeps the test on one core."""
    arguments = CommandLineArguments()
    before, arguments.num_concurrent_jobs = arguments.num_concurrent_jobs, 1
    yield
    arguments.num_concurrent_jobs = before


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """0.2 s of a vowel-like sound: a 140 Hz harmonic series under two formants, a gliding onset, some noise."""
    rng = np.random.default_rng(5)
    t = np.arange(int(0.2 * RATE)) / RATE
    harmonics = sum(np.sin(2 * np.pi * 140 * k * t) * (np.exp(-((140 * k - 700) / 200) ** 2)
                                                        + 0.5 * np.exp(-((140 * k - 2200) / 300) ** 2))
                    for k in range(1, 40))
    return harmonics * np.minimum(1, t / 0.03) + 0.02 * rng.standard_normal(t.size)


@pytest.fixture(scope="module")
def reference(clip):
    """lauscher's waveform, membrane velocity and release probability of the clip."""
    wave = MonoAudioWave(clip.copy(), RATE).transform(RmsNormalizer(cochlea.RMS_LEVEL)).transform(HanningWindow())
    velocity = wave.transform(BasilarMembrane(channels=CHANNELS))
    probability = velocity.transform(HairCell())
    return wave, velocity, probability


def test_front_end_matches(clip, reference):
    np.testing.assert_allclose(cochlea.prepare_wave(clip), reference[0].samples, rtol=0, atol=1e-15)


def test_basilar_membrane_matches(clip, reference):
    velocity = reference[1]
    ours = cochlea.basilar_membrane(cochlea.prepare_wave(clip), RATE, CHANNELS)
    assert velocity.sample_rate == RATE // 2 and ours.shape == np.asarray(velocity.channels).shape
    np.testing.assert_allclose(ours, velocity.channels, rtol=0, atol=1e-12 * np.abs(velocity.channels).max())
    # the model is not trivially flat: the channels respond differently (tonotopy)
    assert np.ptp(np.sqrt(np.mean(ours**2, axis=1))) > 0.5 * np.sqrt(np.mean(ours**2))


def test_hair_cell_matches(reference):
    velocity, probability = reference[1], reference[2]
    ours = cochlea.hair_cell(np.asarray(velocity.channels), velocity.sample_rate)
    expected = np.asarray(probability.channels)
    np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-14)
    # driven well above rest somewhere, or the comparison says little
    assert expected.max() > 2 * np.median(expected)


def test_bushy_cell_lif_matches_for_the_same_fibre_spikes(reference):
    """lauscher's fibre draws (its private _sample) fed to its LIF and, summed over fibres, to ours."""
    probability = reference[2]
    rate = probability.sample_rate
    bushy = BushyCell()
    np.random.seed(1)
    fibres = [bushy._sample(np.asarray(channel), rate) for channel in probability.channels]  # (T, 40) each
    expected = np.array([bushy._lif(channel_fibres.astype(float), rate) for channel_fibres in fibres], dtype=bool)
    counts = np.array([channel_fibres.sum(axis=1) for channel_fibres in fibres])
    ours = cochlea.bushy_cell(counts, rate)
    assert expected.sum() > 20
    np.testing.assert_array_equal(ours, expected)


def test_fibre_counts_match_in_distribution():
    """Constant release probability 0.05 on 8 channels for 20,000 steps: per-step fibre counts, ours vs lauscher.

    With the dead time (11 steps at 11,025 Hz) a fibre fires every 11 + 1/p = 31 steps on average instead of
    every 20: the mean count and the count histogram both test it; a dead time of 10 steps is rejected.
    """
    rate, steps, channels, p = RATE // 2, 20000, 8, 0.05
    stimulus = np.full(steps, p)
    np.random.seed(2)
    theirs = np.array([BushyCell()._sample(stimulus, rate).sum(axis=1) for _ in range(channels)])
    ours = cochlea.fibre_spike_counts(np.full((channels, steps), p), rate, np.random.default_rng(2))
    wrong_dead_time = cochlea.BushyCellParams(tau_refrac=10.5 / rate)  # 10 dead steps
    assert cochlea.dead_steps(rate, wrong_dead_time) == cochlea.dead_steps(rate) - 1 == 10
    wrong = cochlea.fibre_spike_counts(np.full((channels, steps), p), rate, np.random.default_rng(2), wrong_dead_time)

    def z_score(a, b):  # difference of mean counts per step in units of its standard error (batch means)
        batches_a, batches_b = a.reshape(-1, 500).mean(axis=1), b.reshape(-1, 500).mean(axis=1)
        error = np.sqrt(batches_a.var(ddof=1) / batches_a.size + batches_b.var(ddof=1) / batches_b.size)
        return abs(batches_a.mean() - batches_b.mean()) / error

    assert ours.mean() == pytest.approx(40 / 31, rel=0.02)
    assert z_score(ours, theirs) < 4
    assert z_score(wrong, theirs) > 8
    histogram = [np.bincount(c.ravel(), minlength=8)[:8] / c.size for c in (ours, theirs)]
    np.testing.assert_allclose(histogram[0], histogram[1], atol=0.006)


def test_bushy_spike_counts_per_channel_match_in_distribution(reference):
    """The whole random stage (fibres + bushy cell) on the clip, 6 repetitions each: per-channel spike counts.

    The count is steep in the bushy cell's input weight (13,000: ~66 spikes here; 12,000: ~43), so an 8 % error
    of the weight is rejected.
    """
    probability = reference[2]
    rate, repetitions = probability.sample_rate, 6
    release = np.asarray(probability.channels)

    def lauscher_counts(seed):
        np.random.seed(seed)
        spikes = FiringProbability(release, rate).transform(BushyCell())
        return np.bincount(spikes.spike_labels.astype(int), minlength=CHANNELS)

    def our_counts(seed, params=cochlea.BushyCellParams()):
        rng = np.random.default_rng(seed)
        return cochlea.bushy_cell(cochlea.fibre_spike_counts(release, rate, rng, params), rate, params).sum(axis=1)

    theirs = np.array([lauscher_counts(seed) for seed in range(repetitions)])
    ours = np.array([our_counts(seed) for seed in range(repetitions)])
    weak = np.array([our_counts(seed, cochlea.BushyCellParams(weight=12e3)) for seed in range(repetitions)])
    assert theirs.sum() / repetitions > 40

    def z_totals(a, b):
        totals_a, totals_b = a.sum(axis=1), b.sum(axis=1)
        return abs(totals_a.mean() - totals_b.mean()) / np.sqrt(
            (totals_a.var(ddof=1) + totals_b.var(ddof=1)) / repetitions + 1.0)

    assert z_totals(ours, theirs) < 4
    assert z_totals(weak, theirs) > 4
    error = np.sqrt((ours.var(axis=0, ddof=1) + theirs.var(axis=0, ddof=1)) / repetitions + 0.25)
    assert np.all(np.abs(ours.mean(axis=0) - theirs.mean(axis=0)) < 5 * error)
    np.testing.assert_allclose(ours.mean(axis=0), theirs.mean(axis=0), atol=0.25 * theirs.mean(axis=0).max() + 1)


def test_membrane_transfer_is_cached_and_read_only():
    first = cochlea.membrane_transfer(2000, RATE, 8)
    assert cochlea.membrane_transfer(2000, RATE, 8) is first
    assert not first.flags.writeable


def test_whole_chain_gives_sorted_spikes_of_every_channel_range(clip):
    times, channels = cochlea.cochlea_spikes(clip, RATE, CHANNELS, np.random.default_rng(0))
    assert np.all(np.diff(times) >= 0) and times.max() < clip.size / RATE
    assert channels.min() >= 0 and channels.max() < CHANNELS and times.size > 50
    np.testing.assert_allclose(times * (RATE // 2), np.round(times * (RATE // 2)), atol=1e-6)
