"""Speech synthesis with eSpeak NG (the `espeakng-loader` package ships the library and its voice data).

eSpeak keeps random and synthesis state in static variables of the library (its own generator, libc `rand()`
for breath noise, and wave-generator phases that carry over from one utterance to the next), so the same call
gives different audio depending on what was said before. Every utterance is therefore synthesised by a freshly
loaded copy of the library (dlopen, synthesise, dlclose: ~3 ms) with both generators seeded: the waveform then
depends only on the text, the voice, the parameters and the seed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

import numpy as np

from ..errors import DataError

_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_ENDPAUSE = 0x1000
_PARAMETERS = {"rate": 1, "volume": 2, "pitch": 3, "range": 4}  # espeak_PARAMETER
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class Voice:
    """One way of speaking, in eSpeak's own units.

    name: eSpeak voice, language and variant, e.g. "en-us+f3" or "de+m2";
    rate: words per minute (80-450, eSpeak's default 175); pitch: base pitch 0-100 (default 50);
    pitch_range: intonation range 0-100 (default 50, 0 = monotone).
    """

    name: str
    rate: int = 175
    pitch: int = 50
    pitch_range: int = 50


def _load_library():
    try:
        import espeakng_loader
    except ImportError as error:  # a dependency of the package: a broken install
        raise DataError("the spoken data set needs eSpeak NG. Fix: pip install espeakng-loader") from error
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


def synthesise(text: str, voice: Voice, seed: int) -> tuple[np.ndarray, int]:
    """Speak `text` with `voice`: (samples float64 in [-1, 1], sample rate in Hz, 22,050 for eSpeak NG).

    Equal arguments give equal samples in any process and after any other utterance (see the module doc).
    Raises DataError for a voice eSpeak does not know or a failed synthesis.
    """
    import _ctypes

    library_path, data_path = _load_library()
    library = ctypes.CDLL(library_path)
    chunks: list[np.ndarray] = []

    def collect(wave, count, _events):
        if count > 0:
            chunks.append(np.ctypeslib.as_array(wave, shape=(count,)).copy())
        return 0

    callback = _SYNTH_CALLBACK(collect)
    try:
        sample_rate = library.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0)
        if sample_rate <= 0:
            raise DataError(f"eSpeak NG failed to start with its data in {data_path}. Fix: pip install --force-reinstall espeakng-loader")
        library.espeak_SetSynthCallback(callback)
        if library.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise DataError(f"eSpeak NG has no voice {voice.name!r}. Fix: use a language and variant it lists, e.g. 'en+m3'")
        for name, value in (("rate", voice.rate), ("pitch", voice.pitch), ("range", voice.pitch_range)):
            library.espeak_SetParameter(_PARAMETERS[name], int(value), 0)
        library.espeak_ng_SetRandSeed(ctypes.c_long(seed))
        ctypes.CDLL(ctypes.util.find_library("c")).srand(ctypes.c_uint(seed & 0xFFFFFFFF))
        encoded = text.encode("utf-8")
        status = library.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE,
                                      None, None)
        if status != 0:
            raise DataError(f"eSpeak NG could not speak {text!r} with {voice.name!r} (status {status})")
        library.espeak_Terminate()
    finally:
        handle = library._handle
        del library
        _ctypes.dlclose(handle)
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return samples.astype(np.float64) / 32768.0, int(sample_rate)
