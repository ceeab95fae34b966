#!/usr/bin/env python3
"""What one libvosk recogniser costs in memory, by turn length and search width (issue 18).

Each search is run in a process of its own (a fresh heap): the model is loaded through a view
whose conf/model.conf carries the search (as `speech.max_active` / `speech.beam` do on the
box), then every test turn gets a new recogniser, fed 0.1 s at a time; the process's RSS is
read after each piece. A turn's figure is its peak RSS minus the RSS just before its
recogniser was made (glibc's free pages handed back with malloc_trim, as the box does).

Turns: the six Korean sentences of benches/caller_sentences.txt (benches/call_memory.rs's) one by one (2-4 s, like the answers
there), three in a row (7-10 s, a long answer with short pauses) and 15 s without a pause long
enough to end a turn (the longest turn the box takes: speech.max_utterance_ms = 15000). The
audio goes the phone's way: espeak-ng, 8 kHz mu-law, back to 16 kHz linear.

    CALLBOX_TEST_VOSK_MODEL=<model dir> python3 benches/recogniser_memory.py [SEARCH ...]

SEARCH is `own` (the model's conf/model.conf as it is) or comma-separated overrides of it,
e.g. `max-active=1000` (the box's default) or `max-active=1000,beam=9`; the default list is
own, the box's default, and the box's default with a narrower beam or lattice beam. Needs the
PyPI `vosk` package (the libvosk the box ships), espeak-ng and sox. Prints a Markdown table.
Transcripts are compared with the model's own search only as a sign of how much a search
changes: with espeak-ng Korean they are no measure of accuracy (see benches/README.md).
"""

import ctypes
import json
import os
import subprocess
import sys
import tempfile

SENTENCES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "caller_sentences.txt")
DEFAULT_SEARCHES = [
    "own",
    "max-active=1000",
    "max-active=1000,beam=9",
    "max-active=1000,lattice-beam=1.0",
    "max-active=1000,lattice-beam=0.5",
]
RATE = 16000
PIECE = RATE // 10  # samples fed at a time
LONGEST_S = 15


def caller_sentences():
    """What the benches' caller says (benches/caller_sentences.txt)."""
    with open(SENTENCES_FILE, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def turns(workdir):
    """(label, 16-bit 16 kHz audio) of every test turn, made once per run."""
    sentences = caller_sentences()
    singles = [(f"sentence {i + 1}", phone_audio(text, workdir)) for i, text in enumerate(sentences)]
    runs = [
        (f"sentences {i + 1}-{i + 3}", phone_audio(" ".join(sentences[i : i + 3]), workdir))
        for i in range(0, len(sentences), 3)
    ]
    longest = phone_audio(" ".join(sentences * 2), workdir, seconds=LONGEST_S)
    return singles + runs + [(f"{LONGEST_S} s", longest)]


def phone_audio(text, workdir, seconds=None):
    """espeak-ng's Korean, through 8 kHz mu-law, as 16 kHz signed 16-bit samples."""
    wav, law, raw = (os.path.join(workdir, n) for n in ("t.wav", "t8.wav", "t.raw"))
    subprocess.run(["espeak-ng", "-v", "ko", "-w", wav, text], check=True)
    subprocess.run(["sox", wav, "-r", "8000", "-e", "mu-law", law], check=True)
    trim = ["trim", "0", str(seconds)] if seconds else []
    subprocess.run(["sox", law, "-r", str(RATE), "-e", "signed", "-b", "16", "-t", "raw", raw, *trim], check=True)
    with open(raw, "rb") as f:
        return f.read()


def model_view(model, search, workdir):
    """A directory that is the model but for conf/model.conf, rewritten with the search."""
    if search == "own":
        return model
    overrides = dict(item.split("=", 1) for item in search.split(","))
    view = os.path.join(workdir, "view-" + search.replace(",", "_").replace("=", "-"))
    os.makedirs(os.path.join(view, "conf"), exist_ok=True)
    for entry in os.listdir(model):
        if entry != "conf":
            os.symlink(os.path.join(model, entry), os.path.join(view, entry))
    for entry in os.listdir(os.path.join(model, "conf")):
        if entry != "model.conf":
            os.symlink(os.path.join(model, "conf", entry), os.path.join(view, "conf", entry))
    with open(os.path.join(model, "conf", "model.conf")) as f:
        lines = f.read().splitlines()
    seen = set()
    for i, line in enumerate(lines):
        name = line.lstrip("-").split("=", 1)[0]
        if name in overrides:
            lines[i] = f"--{name}={overrides[name]}"
            seen.add(name)
    lines += [f"--{name}={value}" for name, value in overrides.items() if name not in seen]
    with open(os.path.join(view, "conf", "model.conf"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return view


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(model_dir, audio):
    """One search, in this process: per turn, peak MiB, transcript and mean confidence."""
    import vosk

    vosk.SetLogLevel(-1)
    libc = ctypes.CDLL("libc.so.6")
    model = vosk.Model(model_dir)
    results = []
    for samples in audio:
        libc.malloc_trim(0)
        before = peak = rss_mib()
        recogniser = vosk.KaldiRecognizer(model, RATE)
        recogniser.SetWords(True)
        for at in range(0, len(samples), PIECE * 2):
            recogniser.AcceptWaveform(samples[at : at + PIECE * 2])
            peak = max(peak, rss_mib())
        result = json.loads(recogniser.FinalResult())
        peak = max(peak, rss_mib())
        confidences = [w["conf"] for w in result.get("result", [])]
        results.append(
            {
                "peak": peak - before,
                "text": result.get("text", ""),
                "conf": sum(confidences) / len(confidences) if confidences else 0.0,
            }
        )
        del recogniser
    return results


def main(argv):
    model = os.environ.get("CALLBOX_TEST_VOSK_MODEL")
    if not model or not os.path.isfile(os.path.join(model, "conf", "model.conf")):
        print("set CALLBOX_TEST_VOSK_MODEL to a Vosk model directory (scripts/install-test-model.sh)", file=sys.stderr)
        return 2
    if len(argv) > 2 and argv[1] == "--one":
        # The child: one search over the turns the parent saved.
        with open(argv[3], "rb") as f:
            audio = json.load(f)
        audio = [bytes.fromhex(a) for a in audio]
        print(json.dumps(measure(argv[2], audio)))
        return 0
    searches = argv[1:] or DEFAULT_SEARCHES
    with tempfile.TemporaryDirectory(prefix="recogniser-memory-") as workdir:
        labelled = turns(workdir)
        saved = os.path.join(workdir, "turns.json")
        with open(saved, "w") as f:
            json.dump([a.hex() for _, a in labelled], f)
        runs = {}
        for search in searches:
            view = model_view(model, search, workdir)
            out = subprocess.run(
                [sys.executable, argv[0], "--one", view, saved], check=True, capture_output=True, text=True
            ).stdout
            runs[search] = json.loads(out)
    print_table(labelled, runs)
    return 0


def print_table(labelled, runs):
    kinds = {"single": [], "run": [], "longest": []}
    for i, (label, _) in enumerate(labelled):
        kind = "single" if label.startswith("sentence ") else "run" if label.startswith("sentences") else "longest"
        kinds[kind].append(i)
    lengths = {k: [len(labelled[i][1]) / 2 / RATE for i in v] for k, v in kinds.items()}
    own = runs.get("own")
    print(
        f"| search | one sentence ({min(lengths['single']):.1f}-{max(lengths['single']):.1f} s) mean / max "
        f"| three in a row ({min(lengths['run']):.1f}-{max(lengths['run']):.1f} s) mean / max "
        f"| {LONGEST_S} s | transcripts equal to the model's own | mean word confidence |"
    )
    print("|---|---|---|---|---|---|")
    for search, results in runs.items():
        peaks = [r["peak"] for r in results]

        def cell(kind):
            values = [peaks[i] for i in kinds[kind]]
            return f"{sum(values) / len(values):.1f} / {max(values):.1f} MiB"

        same = f"{sum(a['text'] == b['text'] for a, b in zip(results, own))}/{len(results)}" if own else "-"
        confidence = sum(r["conf"] for r in results) / len(results)
        print(
            f"| {search} | {cell('single')} | {cell('run')} | {peaks[kinds['longest'][0]]:.1f} MiB "
            f"| {same} | {confidence:.2f} |"
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv))
