#!/usr/bin/env bash
# The GPU figures of issue 17 in one command on a lent CUDA machine with no network: the
# Triton sampler's tests on CUDA, bench_sampling.py (original and default presets, float32
# and bf16, up to 10M particles, with the bf16 accuracy) and, when the Vulkan driver is
# reached, bench_render.py at 1M, 4M and 10M particles at 1920x1080. Each step runs under
# its own timeout, so one that fails or hangs loses only its own figures; everything lands
# under $OUT (log.txt, env.txt, tests.txt, bench_sampling.json, bench_render.json).
#
#   bash benchmarks/gpu_check.sh prepare   # here, with the registries: fetch what travels
#   bash benchmarks/gpu_check.sh           # there (carry .whl and .gl), installs nothing
#                                          # from the network
#   bash benchmarks/gpu_check.sh --dry-run # the same steps on the CPU, tiny sizes
#
# prepare downloads into .whl the wheels the device image lacks (the rendering stack, for
# its Python 3.12) and into .gl the Vulkan loader's .debs, and keeps both out of git. The
# device's own torch and triton are used as they are. Step timeouts (seconds) can be set
# with GPU_CHECK_TESTS_S, GPU_CHECK_SAMPLING_S and GPU_CHECK_RENDER_S; their defaults add
# up to under the device's ten minutes a command.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
WHEELS=(
    pygfx==0.17.0 wgpu==0.32.0 rendercanvas==2.7.2 pylinalg==0.6.8 freetype-py==2.5.1
    uharfbuzz==0.57.0 hsluv==5.0.5 cffi==2.1.1 pycparser imgui-bundle==1.93.0
    glfw==2.11.0 platformdirs
)
DEBS=(libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)

prepare() {
    local exclude
    exclude=$(git rev-parse --git-path info/exclude)
    mkdir -p "$(dirname "$exclude")"
    grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >>"$exclude"
    grep -qx '/.gl/' "$exclude" 2>/dev/null || echo '/.gl/' >>"$exclude"
    mkdir -p .whl .gl /tmp/amd64/partial
    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux1_x86_64 -d .whl "${WHEELS[@]}" || exit 1
    local apt='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    # shellcheck disable=SC2086
    apt-get $apt update -qq && (cd .gl && apt-get $apt download "${DEBS[@]}") || exit 1
    du -sh .whl .gl
    echo "carry .whl and .gl (64 MiB in all with the working tree)"
}

if [ "${1:-}" = prepare ]; then
    prepare
    exit
fi
DRY=0
[ "${1:-}" = --dry-run ] && DRY=1
OUT=${OUT:-$ROOT/out/gpu_check}
mkdir -p "$OUT"
LOG=$OUT/log.txt
: >"$LOG"
say() { echo "== $*" | tee -a "$LOG"; }

# step NAME SECONDS COMMAND...: run one step under its timeout, its output into the log.
step() {
    local name=$1 seconds=$2
    shift 2
    say "$name (at most ${seconds}s): $*"
    local start=$SECONDS
    timeout -k 10 "$seconds" "$@" >>"$LOG" 2>&1
    local rc=$?
    say "$name: exit $rc after $((SECONDS - start))s$([ $rc = 124 ] && echo ' (timed out)')"
    return 0
}

if [ $DRY = 1 ]; then
    PYTHON=${PYTHON:-python3}
    DEVICE=cpu
    SIZES=2000,4000 STEPS=5 QUICK=(--quick) TUNE=() IMPLS=eager
    RENDER_N=(--n 2000 --n 4000) SIZE=320x180
    TESTS_S=${GPU_CHECK_TESTS_S:-300} SAMPLING_S=${GPU_CHECK_SAMPLING_S:-600}
    RENDER_S=${GPU_CHECK_RENDER_S:-300}
else
    PYTHON=python3
    DEVICE=cuda
    SIZES=1000000,4000000,10000000 STEPS=50 QUICK=() TUNE=(--tune 4000000)
    IMPLS=eager,bf16,triton,triton-bf16
    RENDER_N=(--n 1000000 --n 4000000 --n 10000000) SIZE=1920x1080
    TESTS_S=${GPU_CHECK_TESTS_S:-90} SAMPLING_S=${GPU_CHECK_SAMPLING_S:-300}
    RENDER_S=${GPU_CHECK_RENDER_S:-150}
    if [ -d .gl ]; then
        for f in .gl/*.deb; do dpkg -x "$f" /; done
        ldconfig
    fi
    if [ -d .whl ]; then
        $PYTHON -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl >>"$LOG" 2>&1 || say "wheels: install failed"
        export PYTHONPATH=/tmp/site
    fi
    if [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
        export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
        export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    fi
fi
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1 RENDERCANVAS_FORCE_OFFSCREEN=1
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/dexplorer-runtime-$(id -u)}
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

{
    date -u
    nvidia-smi 2>&1 | head -15
    $PYTHON - <<'EOF'
import importlib.util, torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
for name in ("triton", "pygfx", "wgpu", "imgui_bundle"):
    spec = importlib.util.find_spec(name)
    print(name, "found" if spec else "MISSING")
try:
    import wgpu
    print("wgpu adapter:", wgpu.gpu.request_adapter_sync(power_preference="high-performance").summary)
except Exception as error:  # the render step is skipped without one
    print("wgpu adapter: none:", error)
EOF
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt" >>"$LOG"

if [ $DRY = 1 ]; then
    step tests "$TESTS_S" $PYTHON -m pytest -q tests/test_kernel_reference.py
else
    step tests "$TESTS_S" bash -c "$PYTHON -m pytest -q -p no:cacheprovider \
        tests/test_triton_sampler.py tests/test_kernel_reference.py >'$OUT/tests.txt' 2>&1; \
        rc=\$?; tail -5 '$OUT/tests.txt'; exit \$rc"
fi

step sampling "$SAMPLING_S" $PYTHON benchmarks/bench_sampling.py --device $DEVICE \
    --model checkerboard/flow --presets original,default --samplers euler,heun \
    --sizes $SIZES --steps $STEPS --impls $IMPLS "${QUICK[@]}" "${TUNE[@]}" \
    --json "$OUT/bench_sampling.json"

if grep -q "wgpu adapter: none" "$OUT/env.txt"; then
    say "render: skipped, no wgpu adapter (see env.txt)"
elif [ $DRY = 0 ] && ! grep "^wgpu adapter:" "$OUT/env.txt" | grep -qi nvidia; then
    say "render: skipped, the wgpu adapter is not the NVIDIA driver (see env.txt)"
else
    step render "$RENDER_S" $PYTHON benchmarks/bench_render.py --quick --device $DEVICE \
        "${RENDER_N[@]}" --size $SIZE --json "$OUT/bench_render.json"
fi
say "done: $(ls "$OUT" | tr '\n' ' ')"
