#!/usr/bin/env bash
# Installs everything the flow needs on a Debian machine: system packages, a
# virtual environment in .venv and the pinned Python packages. Safe to re-run:
# each step checks what is already there and says what it did.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(g++ make perl python3-venv verilator yosys tcl dataset-fashion-mnist)
VENV=.venv
STAMP="$VENV/.installed"

say() { printf '[setup] %s\n' "$*"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    say "system packages already installed: ${APT_PACKAGES[*]}"
else
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    say "installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
say "verilator: $(verilator --version)"
say "yosys: $(yosys -V)"

if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    python3 -m venv "$VENV"
else
    say "virtual environment $VENV exists"
fi

want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    say "python packages up to date"
else
    say "installing pinned python packages (constraints.txt)"
    # This machine's pip config names index folders that may not exist; pip warns
    # about each, which buries real errors, so those lines are dropped.
    quiet_pip() { "$VENV/bin/python" -m pip "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
    quiet_pip install -q --upgrade pip
    quiet_pip install -q -c constraints.txt -e ".[dev]"
    echo "$want" > "$STAMP"
fi
say "torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)'), brevitas $("$VENV/bin/python" -c 'import brevitas; print(brevitas.__version__)')"
say "done"
