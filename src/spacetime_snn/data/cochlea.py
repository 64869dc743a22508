"""The cochlea model that made SHD (lauscher, Cramer et al. 2020), vectorised across frequency channels.

The chain and every constant are lauscher's (`lauscher.transformations.Wave2Spike`):

    audio --RMS to 0.3, Hanning ramps over each half--> basilar membrane (Sieroka et al. 2006, hydrodynamic
    shallow-water model, one place c in [0, 3.5] per channel: c = 0 is the base, high frequencies)
    --> inner hair cell (Meddis 1986/88 transmitter pools) = release probability per step
    --> 40 auditory-nerve fibres per channel (Bernoulli per step, 1 ms dead time)
    --> one bushy cell per channel (LIF, tau_mem 1 ms, tau_syn 0.5 ms, 1 ms refractory) = the channel's spikes.

lauscher loops over channels (one process each) and, in Python, over samples; here every stage runs on all
channels at once. What is the same and what is equivalent:
  * basilar membrane: the same transfer function, evaluated for all channels in one array expression and cached
    per (clip length, sample rate, channels), since it does not depend on the clip; identical output to float
    rounding. Like lauscher, it keeps the positive half of the spectrum, so its output (and everything after it)
    runs at half the audio rate (11,025 Hz for 22,050 Hz audio).
  * hair cell: the same recursion, stepped over time for all channels together; identical to float rounding.
  * fibres: lauscher draws 40 Bernoulli trials per step and deletes spikes that follow a kept one within the
    dead time. The fibres of a channel are i.i.d., so only their count matters downstream (the bushy cell sums
    its inputs): per step, Binomial(fibres not in dead time, p) fibres fire. That is the same random process
    (equal in distribution), 40x fewer random numbers.
  * bushy cell: lauscher's LIF with one synaptic current per fibre; the currents decay alike and are summed, so
    one summed current per channel is the same arithmetic. Identical to float rounding for the same fibre spikes.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

RMS_LEVEL = 0.3
"""RMS the clip is normalised to before the cochlea (lauscher's RmsNormalizer(0.3) in Wave2Spike)."""


@dataclass(frozen=True)
class BasilarMembraneParams:
    """Sieroka et al.'s membrane (lauscher's BasilarMembrane defaults; SI-like units of the model)."""

    a: float = 3500.0  # stiffness offset
    alpha: float = 3.0  # exponential stiffness decay along the membrane
    rho: float = 1.0  # fluid density
    length: float = 3.5  # channels sit at c = linspace(0, length, channels)
    c0: float = 10e8  # stiffness at the base
    de: float = 0.15  # damping
    h: float = 0.1  # channel height
    m: float = 0.05  # membrane mass


@dataclass(frozen=True)
class HairCellParams:
    """Meddis' inner hair cell (lauscher's HairCell defaults; rates per second)."""

    y: float = 5.05  # replenishment rate
    g: float = 2000.0  # permeability rate
    l: float = 2500.0  # cleft loss rate
    r: float = 6580.0  # reuptake rate
    x: float = 66.3  # reprocessing rate
    a: float = 5.0  # permeability offset
    b: float = 300.0  # permeability saturation
    h: float = 50000.0  # cleft contents -> release probability per second
    m: float = 1.0  # free transmitter pool capacity


@dataclass(frozen=True)
class BushyCellParams:
    """Fibres and bushy cell (lauscher's BushyCell defaults; seconds)."""

    n_convergence: int = 40  # auditory-nerve fibres per bushy cell
    tau_mem: float = 1e-3
    tau_syn: float = 5e-4
    tau_refrac: float = 1e-3  # dead time of fibres and bushy cell alike
    weight: float = 13e3  # summed over the fibres (each has weight / n_convergence)


# --------------------------------------------------------------------------------------------------------------
# Audio preparation


def prepare_wave(samples: np.ndarray) -> np.ndarray:
    """lauscher's front end: RMS normalised to RMS_LEVEL, then a Hanning ramp up over the first half and down over
    the second half of the clip (a new float64 array; `samples` is left alone)."""
    wave = np.asarray(samples, dtype=np.float64).copy()
    wave *= RMS_LEVEL / np.sqrt(np.mean(wave**2))
    half = wave.size // 2
    ramp = np.hanning(2 * half)[:half]
    wave[:half] *= ramp
    if half:
        wave[-half:] *= ramp[::-1]
    return wave


# --------------------------------------------------------------------------------------------------------------
# Basilar membrane


def membrane_places(num_channels: int, params: BasilarMembraneParams = BasilarMembraneParams()) -> np.ndarray:
    """Place c of each channel on the membrane; channel 0 (c = 0) is the base, the highest best frequency."""
    return np.linspace(0.0, params.length, num_channels)


def membrane_frequencies(num_samples: int, sample_rate: int) -> np.ndarray:
    """Angular frequencies (rad/s) of the spectrum bins the membrane model uses, as lauscher builds them."""
    half_rate = sample_rate // 2
    return 2 * np.pi * np.linspace(1, half_rate, num_samples // 2 + 1)


def _membrane_response(omega: np.ndarray, c: np.ndarray, p: BasilarMembraneParams) -> np.ndarray:
    """Velocity transfer v(omega, c) of Sieroka's model, broadcast over omega (1, F) and places c (C, 1)."""
    r0 = p.de * np.sqrt(p.c0 * p.m)
    decay = np.exp(-p.alpha * c)  # stiffness profile
    half_decay = np.exp(-p.alpha * c / 2.0)  # damping profile

    def impedance(decay_c, half_decay_c):  # xi = s(c) - m omega^2 - i omega r(c)
        return p.c0 * decay_c - p.a - p.m * omega**2 - 1j * omega * r0 * half_decay_c

    def wavenumber(xi):  # g = omega sqrt(rho / (h xi))
        return omega * np.sqrt(p.rho / (p.h * xi))

    def pressure(decay_c, half_decay_c, c_value):  # p(omega, c) = sqrt(G / g) H0(G)
        root = np.sqrt(p.a + p.m * omega**2)
        numerator = (-p.alpha * np.sqrt(p.c0 - p.a - omega * (p.m * omega + 1j * r0))
                     + 1j * p.alpha * (2 * p.a + omega * (2 * p.m * omega + 1j * r0)) / (2 * root))
        denominator = 0.5 * p.alpha * np.exp(p.alpha * c_value / 2.0) * (
            -2 * np.sqrt(p.c0 * decay_c - p.a - p.m * omega**2 - 1j * half_decay_c * omega * r0)
            + 1j * (2 * p.a + omega * (2 * p.m * omega + 1j * half_decay_c * r0)) / root)
        g_base = wavenumber(impedance(1.0, 1.0))
        phase = (2 * g_base / p.alpha
                 - (2j * np.sqrt(2.0) * omega * np.log(numerator / denominator))
                 / (p.alpha * np.sqrt(2 * p.h * (p.m * omega**2 + p.a))))
        return np.sqrt(phase / wavenumber(impedance(decay_c, half_decay_c))) * special.hankel1(0, phase)

    k = 4 * np.pi * (omega / (2 * np.pi)) / p.alpha * np.sqrt(2.0 / (p.h * p.c0))
    stapes = np.sqrt(2 * p.c0 / p.h) * (1j * special.j0(k) + special.y0(k)) / (special.j1(k) - 1j * special.y1(k))
    xi = impedance(decay, half_decay)
    return 2 * omega / xi * pressure(decay, half_decay, c) * stapes / pressure(1.0, 1.0, 0.0)


@functools.lru_cache(maxsize=2)
def membrane_transfer(num_samples: int, sample_rate: int, num_channels: int,
                      params: BasilarMembraneParams = BasilarMembraneParams()) -> np.ndarray:
    """The (channels, num_samples // 2 + 1) complex transfer of a clip of `num_samples` samples at `sample_rate` Hz.

    Independent of the clip itself, so it is computed once per length (a few seconds at 700 channels) and kept;
    computed in blocks of channels to bound the temporaries.
    """
    omega = membrane_frequencies(num_samples, sample_rate)[None, :]
    places = membrane_places(num_channels, params)
    blocks = [_membrane_response(omega, places[start:start + 32, None], params)
              for start in range(0, num_channels, 32)]
    transfer = np.concatenate(blocks, axis=0)
    transfer.setflags(write=False)
    return transfer

def basilar_membrane(wave: np.ndarray, sample_rate: int, num_channels: int,
                     params: BasilarMembraneParams = BasilarMembraneParams()) -> np.ndarray:
    """Membrane velocity (channels, num_samples // 2 + 1) of a prepared clip; it runs at sample_rate // 2 Hz."""
    from scipy import fft

    spectrum = fft.fft(wave)[: wave.size // 2 + 1]
    transfer = membrane_transfer(int(wave.size), int(sample_rate), int(num_channels), params)
    return fft.ifft(transfer * spectrum, axis=1, workers=1).real


# --------------------------------------------------------------------------------------------------------------
# Inner hair cell


BLOCK_STEPS = 256
"""Time steps per block: the stages loop over time, and work on (block, channels) slices so that the per-block
arrays stay in cache (the results do not depend on it)."""


def _blocks(num_steps: int):
    return ((start, min(start + BLOCK_STEPS, num_steps)) for start in range(0, num_steps, BLOCK_STEPS))


def hair_cell(velocity: np.ndarray, sample_rate: float, params: HairCellParams = HairCellParams()) -> np.ndarray:
    """Release probability per step (channels, steps) of Meddis' hair cell driven by the membrane velocity.

    `sample_rate` is the rate of `velocity` (Hz). Three transmitter pools per channel (free q, cleft c,
    reprocessing w) start at their resting values and are stepped forward for all channels at once; each pool is
    clipped at 0 and the free pool is replenished only below its capacity, as in lauscher. Rows may be channels
    of several clips of equal length stacked together: channels do not interact.
    """
    p, dt = params, 1.0 / float(sample_rate)
    resting_k = p.g * p.a / (p.a + p.b)
    resting_cleft = p.m * p.y * resting_k / (p.l * resting_k + p.y * (p.l + p.r))
    num_channels, num_steps = velocity.shape
    q = np.full(num_channels, resting_cleft * (p.l + p.r) / resting_k)
    c = np.full(num_channels, resting_cleft)
    w = np.full(num_channels, resting_cleft * p.r / p.x)
    ydt, xdt, rdt, keep = p.y * dt, p.x * dt, p.r * dt, 1.0 - (p.l + p.r) * dt
    release = np.empty((num_channels, num_steps))
    zero = np.zeros(num_channels)
    replenish, eject, reprocess, uptake = (np.empty(num_channels) for _ in range(4))
    for first, last in _blocks(num_steps):
        drive = np.ascontiguousarray(velocity[:, first:last].T) + p.a  # (steps, channels)
        permeability = np.where(drive > 0, p.g * dt * drive / (drive + p.b), 0.0)
        cleft = np.empty_like(permeability)
        for step in range(last - first):
            np.subtract(p.m, q, out=replenish)
            np.maximum(replenish, zero, out=replenish)
            replenish *= ydt
            np.multiply(permeability[step], q, out=eject)
            np.multiply(w, xdt, out=reprocess)
            np.multiply(c, rdt, out=uptake)  # reuptake from the old cleft contents
            w += uptake
            w -= reprocess
            np.maximum(w, zero, out=w)
            q += replenish
            q -= eject
            q += reprocess
            np.maximum(q, zero, out=q)
            c *= keep
            c += eject
            np.maximum(c, zero, out=c)
            cleft[step] = c
        release[:, first:last] = cleft.T
    release *= p.h * dt
    return release


# --------------------------------------------------------------------------------------------------------------
# Fibres and bushy cell


def dead_steps(sample_rate: float, params: BushyCellParams = BushyCellParams()) -> int:
    """Steps after a fibre spike in which that fibre cannot spike: lauscher deletes a spike less than
    tau_refrac * sample_rate steps after the last kept one."""
    return math.ceil(params.tau_refrac * sample_rate) - 1


def fibre_spike_counts(probability: np.ndarray, sample_rate: float, rng: np.random.Generator,
                       params: BushyCellParams = BushyCellParams()) -> np.ndarray:
    """How many of each channel's fibres spike at each step (channels, steps), int16.

    Each fibre spikes with the step's release probability unless it spiked within the last dead_steps steps.
    The fibres of a channel are interchangeable, so the number that are free is all the state there is, and the
    number that fire is Binomial(free, p). It is drawn by inverting the binomial CDF with one uniform per channel
    and step (the PMF built up term by term until every channel's uniform lies below its CDF): exact, and with
    no per-element sampler call in the time loop.
    """
    num_channels, num_steps = probability.shape
    blocked = dead_steps(sample_rate, params)
    counts = np.zeros((num_steps, num_channels), dtype=np.int16)
    refractory = np.zeros(num_channels)  # fibres that spiked in the last `blocked` steps
    free, remaining, pmf, cdf = (np.empty(num_channels) for _ in range(4))
    fired = np.empty(num_channels)
    beyond = np.empty(num_channels, dtype=bool)
    for first, last in _blocks(num_steps):
        chance = np.clip(np.ascontiguousarray(probability[:, first:last].T), 0.0, 1.0 - 1e-12)  # (steps, channels)
        log_silent = np.log1p(-chance)  # log P(one fibre stays silent)
        odds = chance / (1.0 - chance)
        uniforms = rng.random((last - first, num_channels))
        for offset in range(last - first):
            step = first + offset
            np.subtract(params.n_convergence, refractory, out=free)
            np.multiply(free, log_silent[offset], out=pmf)
            np.exp(pmf, out=pmf)  # P(none of the free fibres fires)
            cdf[:] = pmf
            uniform, step_odds = uniforms[offset], odds[offset]
            np.greater_equal(uniform, cdf, out=beyond)
            fired[:] = beyond
            remaining[:] = free
            k = 1
            while k <= params.n_convergence and beyond.any():  # P(k) = P(k - 1) (free - k + 1) / k p / (1 - p)
                pmf *= remaining
                pmf *= step_odds
                pmf *= 1.0 / k
                cdf += pmf
                np.greater_equal(uniform, cdf, out=beyond)
                fired += beyond
                remaining -= 1.0
                k += 1
            np.minimum(fired, free, out=fired)  # CDF rounding can never fire more fibres than are free
            counts[step] = fired
            refractory += fired
            if step >= blocked:
                refractory -= counts[step - blocked]
    return counts.T


def bushy_cell(fibre_counts: np.ndarray, sample_rate: float,
               params: BushyCellParams = BushyCellParams()) -> np.ndarray:
    """Spikes (channels, steps), bool, of one bushy cell per channel driven by its fibres' spike counts.

    lauscher's LIF step for step: the current decays with tau_syn and jumps by the fibre count; the membrane
    decays with tau_mem, integrates weight / n_convergence * current * dt, and is clipped at 1. A membrane at 1
    is read as a spike at the previous step (as in lauscher), resets to 0 and ignores input for tau_refrac.
    """
    num_channels, num_steps = fibre_counts.shape
    dt = 1.0 / float(sample_rate)
    membrane_decay, current_decay = math.exp(-dt / params.tau_mem), math.exp(-dt / params.tau_syn)
    gain = params.weight / float(params.n_convergence) * dt
    refractory_steps = params.tau_refrac * sample_rate  # a float, counted down by 1 per step as in lauscher
    spikes = np.zeros((num_steps, num_channels), dtype=bool)
    v = np.zeros(num_channels)
    current = np.zeros(num_channels)
    countdown = np.zeros(num_channels)
    free, fire, integrate = (np.empty(num_channels, dtype=bool) for _ in range(3))
    drive = np.empty(num_channels)
    for first, last in _blocks(num_steps):
        inputs = np.ascontiguousarray(fibre_counts[:, first:last].T, dtype=np.float64)
        for offset in range(last - first):
            step = first + offset
            if step == 0:  # no decay and no spike check at the first step
                current += inputs[0]
                np.minimum(current * gain, 1.0, out=v)
                countdown -= 1.0
                continue
            np.less_equal(countdown, 0.0, out=free)
            np.greater_equal(v, 1.0, out=fire)
            fire &= free
            spikes[step - 1] = fire
            np.copyto(countdown, refractory_steps, where=fire)
            np.not_equal(free, fire, out=integrate)  # free and not firing now: decays and integrates
            current *= current_decay
            current += inputs[offset]
            v *= membrane_decay
            np.multiply(current, gain, out=drive)
            v += drive
            v *= integrate  # in refractory (or just reset): 0
            np.minimum(v, 1.0, out=v)
            countdown -= 1.0
    return spikes.T


# --------------------------------------------------------------------------------------------------------------
# The chain


def cochlea_spikes(samples: np.ndarray, sample_rate: int, num_channels: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Spike times (s, ascending) and channels of one clip through the whole chain (lauscher's Wave2Spike).

    Channel 0 is the base of the membrane (highest best frequency); times are multiples of 2 / sample_rate.
    """
    wave = prepare_wave(samples)
    velocity = basilar_membrane(wave, sample_rate, num_channels)
    rate = sample_rate // 2
    probability = hair_cell(velocity, rate)
    spikes = bushy_cell(fibre_spike_counts(probability, rate, rng), rate)
    steps, channels = np.nonzero(spikes.T)  # time-major: sorted by time, then channel
    return steps / float(rate), channels
