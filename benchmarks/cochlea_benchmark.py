"""Seconds per sample of the cochlea (data/cochlea.py) against lauscher's own chain, same clip, one core.

    python benchmarks/cochlea_benchmark.py                          # an eSpeak digit, ours at 700 channels,
                                                                    #   lauscher at 70 (its cost is linear in them)
    python benchmarks/cochlea_benchmark.py --clip digit.flac --lauscher-channels 700   # lauscher's own test clip

Times are CPU seconds of this process and its children (lauscher maps channels over a one-worker Pool), so other
jobs on the machine inflate them less than wall-clock time. The membrane transfer, which depends only on the clip
length, is built once per length and reported apart. Needs lauscher (pip install -e ".[test]").
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def load_clip(path: str | None) -> tuple[np.ndarray, int, str]:
    if path:
        import soundfile

        samples, rate = soundfile.read(path)
        return samples, int(rate), path
    from spacetime_snn.data.speech import Voice, synthesise

    samples, rate = synthesise("sieben", Voice("de+m3"), seed=0)
    return samples, rate, "eSpeak 'sieben' (de+m3)"


def ours(samples: np.ndarray, rate: int, channels: int, repeats: int) -> dict[str, float]:
    from spacetime_snn.data import cochlea

    start = cpu_seconds()
    cochlea.membrane_transfer(samples.size, rate, channels, cochlea.BasilarMembraneParams())
    result = {"transfer (once per clip length)": cpu_seconds() - start}
    totals: dict[str, list[float]] = {}
    for repeat in range(repeats):
        marks = [cpu_seconds()]
        velocity = cochlea.basilar_membrane(cochlea.prepare_wave(samples), rate, channels)
        marks.append(cpu_seconds())
        release = cochlea.hair_cell(velocity, rate // 2)
        marks.append(cpu_seconds())
        fibres = cochlea.fibre_spike_counts(release, rate // 2, np.random.default_rng(repeat))
        marks.append(cpu_seconds())
        spikes = cochlea.bushy_cell(fibres, rate // 2)
        marks.append(cpu_seconds())
        for name, a, b in zip(("basilar membrane", "hair cell", "fibres", "bushy cell"), marks, marks[1:]):
            totals.setdefault(name, []).append(b - a)
        totals.setdefault("spikes", []).append(float(spikes.sum()))
    result.update({name: float(np.median(values)) for name, values in totals.items()})
    return result


def lauscher_chain(samples: np.ndarray, rate: int, channels: int) -> dict[str, float]:
    from lauscher.audiowaves import MonoAudioWave
    from lauscher.helpers import CommandLineArguments
    from lauscher.transformations import BasilarMembrane, BushyCell, HairCell, HanningWindow, RmsNormalizer

    CommandLineArguments().num_concurrent_jobs = 1
    np.random.seed(0)
    marks = [cpu_seconds()]
    data = MonoAudioWave(samples.copy(), rate).transform(RmsNormalizer(0.3)).transform(HanningWindow())
    data = data.transform(BasilarMembrane(channels=channels))
    marks.append(cpu_seconds())
    data = data.transform(HairCell())
    marks.append(cpu_seconds())
    spikes = data.transform(BushyCell())
    marks.append(cpu_seconds())
    result = {name: b - a for name, a, b in zip(("basilar membrane", "hair cell", "fibres + bushy cell"),
                                                 marks, marks[1:])}
    result["spikes"] = float(len(spikes.spike_times))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", help="audio file (default: a digit spoken by eSpeak NG)")
    parser.add_argument("--channels", type=int, default=700, help="channels of our chain (default 700)")
    parser.add_argument("--lauscher-channels", type=int, default=70,
                        help="channels of lauscher's chain (default 70; 700 takes minutes); 0 skips it")
    parser.add_argument("--repeats", type=int, default=3, help="runs of our chain; the median is shown")
    args = parser.parse_args()

    samples, rate, name = load_clip(args.clip)
    print(f"clip: {name}, {samples.size / rate:.3f} s at {rate} Hz")
    started = time.perf_counter()
    mine = ours(samples, rate, args.channels, args.repeats)
    print(f"\nours, {args.channels} channels (median of {args.repeats}, CPU s):")
    for key, value in mine.items():
        print(f"  {key:34s} {value:10.3f}" if key != "spikes" else f"  {'spikes per sample':34s} {value:10.0f}")
    per_sample = sum(v for k, v in mine.items() if k not in ("spikes", "transfer (once per clip length)"))
    print(f"  {'total per sample':34s} {per_sample:10.3f}")
    if args.lauscher_channels:
        theirs = lauscher_chain(samples, rate, args.lauscher_channels)
        print(f"\nlauscher, {args.lauscher_channels} channels (one worker, CPU s):")
        for key, value in theirs.items():
            print(f"  {key:34s} {value:10.3f}" if key != "spikes" else f"  {'spikes per sample':34s} {value:10.0f}")
        total = sum(v for k, v in theirs.items() if k != "spikes")
        print(f"  {'total per sample':34s} {total:10.3f}")
        scale = args.channels / args.lauscher_channels
        print(f"\nlauscher at {args.channels} channels: {total * scale:.1f} s "
              f"({'measured' if scale == 1 else f'x{scale:g}, linear in channels'}); ours {per_sample:.2f} s: "
              f"{total * scale / per_sample:.0f}x faster")
    print(f"(wall-clock of the whole benchmark: {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
