"""Latency of one latent-explorer slider update (decode + PNG encodes), against the 5 ms p95 goal.

    python benchmarks/bench_explorer.py [--updates 300] [--threads 2] [--where kernel|process] [--trained]

One update is what happens when the learner moves a slider of ``vae_course.views.latent_explorer`` in notebook 06:
the ``observe`` callback decodes one latent code, writes the 196x196 grey PNG of the digit into the ``Image`` widget
and redraws the marker layer (a transparent palette PNG that the browser stacks on the scatter of the 10,000
test-set means, which matplotlib rendered once). The script sets
``explorer.sliders[i].value`` ``--updates`` times (alternating sliders, values sweeping [-2.5, 2.5] so that every
update really changes the code, all on the sliders' step grid as a browser sends them) and times each assignment from the outside, callback included. It also reports the
two parts separately (decode + digit PNG; marker layer PNG).

``--where kernel`` (default) runs the loop inside a real IPython kernel started with ``jupyter_client``, with the
widgets' comm open to this process, so the time includes serializing the new image bytes into comm messages as in
JupyterLab (the browser's own drawing is not included). ``--where process`` runs it in this Python process (no kernel;
the widgets then have no frontend to send to). The reference model is a freshly seeded 784-400-2 VAE (the cost of a
decode does not depend on the weights); ``--trained`` uses ``load_or_train(2)`` instead (the course checkpoint, or a
training run first). ``--threads`` sets torch's threads (default 2, the course's 2-core budget).
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap

GOAL_P95_MS = 5.0

# Runs wherever the measurement happens (this process or the kernel) and prints one JSON line.
MEASURE = r'''
import json, statistics, time
import numpy as np
import torch
torch.set_num_threads({threads})
from vae_course import views
from vae_course.data import load_mnist
from vae_course.models import VAE

test_x, test_y = load_mnist("test")
if {trained}:
    from vae_course.training import load_or_train
    model = load_or_train(2, verbose=False).model
else:
    torch.manual_seed(0)
    model = VAE().eval()
t0 = time.perf_counter()
ex = views.latent_explorer(model, test_x, test_y)
build_s = time.perf_counter() - t0
values = np.round(np.linspace(-2.5, 2.5, 101), 2)  # on the sliders' 0.05 grid, as the browser sends them
for i in range(30):  # warm-up: first calls allocate and fill caches
    ex.sliders[i % 2].value = float(values[(7 * i) % 101])
total, decode, scatter = [], [], []
for i in range({updates}):
    s = ex.sliders[i % 2]
    v = float(values[(13 * i + 5) % 101])
    if v == s.value:
        v = -v if v else 0.05
    t = time.perf_counter()
    s.value = v
    total.append(time.perf_counter() - t)
for i in range({updates}):  # the parts, timed separately with the same inputs
    z = torch.tensor([[float(values[(13 * i + 5) % 101]), float(values[(3 * i) % 101])]])
    t = time.perf_counter()
    with torch.inference_mode():
        x = model.decode(z)
    views.digit_png(x)
    decode.append(time.perf_counter() - t)
    t = time.perf_counter()
    ex.canvas.render(marker=z[0].tolist())
    scatter.append(time.perf_counter() - t)

def pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1e3, q))

print(json.dumps({{"n": len(total), "build_s": build_s, "threads": torch.get_num_threads(),
                   "p50": pct(total, 50), "p95": pct(total, 95), "max": pct(total, 100),
                   "decode_p50": pct(decode, 50), "decode_p95": pct(decode, 95),
                   "scatter_p50": pct(scatter, 50), "scatter_p95": pct(scatter, 95),
                   "digit_png_bytes": len(ex.image.value), "scatter_png_bytes": len(ex.scatter.value)}}))
'''


def run_in_process(code: str) -> dict:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, "<bench_explorer>", "exec"), {"__name__": "__bench__"})
    return json.loads(buf.getvalue().strip().splitlines()[-1])


def run_in_kernel(code: str, timeout: float = 600) -> dict:
    """Execute ``code`` in a fresh python3 kernel and return the JSON it prints."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        # ipykernel publishes every widget update (comm_msg with the PNG bytes) on IOPub, whether or not a
        # frontend listens, so the timed assignments include that serialization and send.
        lines: list[str] = []
        errors: list[str] = []

        def on_output(msg):
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content.get("name") == "stdout":
                lines.extend(content["text"].splitlines())
            elif kind == "error":
                errors.append("\n".join(content.get("traceback", [])))

        reply = kc.execute_interactive(code, timeout=timeout, output_hook=on_output)
        if reply["content"]["status"] != "ok" or errors:
            raise RuntimeError("the benchmark failed in the kernel:\n" + "\n".join(errors))
        return json.loads([ln for ln in lines if ln.startswith("{")][-1])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=300, help="timed slider updates (default 300)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--where", choices=("kernel", "process"), default="kernel")
    parser.add_argument("--trained", action="store_true", help="use the trained course checkpoint (load_or_train)")
    args = parser.parse_args(argv)
    if args.updates < 20:
        parser.error("--updates must be at least 20 for a meaningful 95th percentile")
    code = textwrap.dedent(MEASURE.format(threads=args.threads, updates=args.updates, trained=args.trained))
    res = run_in_kernel(code) if args.where == "kernel" else run_in_process(code)
    where = "in an IPython kernel" if args.where == "kernel" else "in this process (no kernel)"
    model = "trained" if args.trained else "freshly seeded"
    print(f"latent explorer, {model} 784-400-2 VAE, scatter of 10,000 test means, {res['threads']} torch threads, "
          f"{where}")
    print(f"explorer built in {res['build_s']:.2f} s (encode 10k images, render the scatter once)")
    print(f"one slider update ({res['n']} updates): p50 {res['p50']:.2f} ms, p95 {res['p95']:.2f} ms, "
          f"max {res['max']:.2f} ms   (goal: p95 <= {GOAL_P95_MS:.0f} ms) -> "
          f"{'OK' if res['p95'] <= GOAL_P95_MS else 'OVER'}")
    print(f"  decode + digit PNG:  p50 {res['decode_p50']:.2f} ms, p95 {res['decode_p95']:.2f} ms "
          f"({res['digit_png_bytes']:,} bytes)")
    print(f"  marker layer PNG:    p50 {res['scatter_p50']:.2f} ms, p95 {res['scatter_p95']:.2f} ms "
          f"({res['scatter_png_bytes']:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
