#!/usr/bin/env bash
# Drives tin (in tmux) against a Tidings server: lists the groups, opens local.test, reads the
# article whose subject is given, and posts a follow-up to it.
#
# usage: drive.sh HOST PORT WORKDIR SUBJECT
# WORKDIR becomes tin's HOME (tinrc, newsrc, .cancelsecret and the scripted editor go there).
# Prints the screens it saw to WORKDIR/screens.log; exits 0 when tin reported the article
# posted. Each run uses its own tmux socket, killed at the end.
set -euo pipefail
host=$1 port=$2 work=$3 subject=$4
sock="tidings-tin-$$"
log="$work/screens.log"
: >"$log"

mkdir -p "$work/.tin"
# A From address with a dotted domain, and no welcome screen.
printf 'mail_address=tester@example.org\n' >"$work/.tin/tinrc"
printf 'local.test:\n' >"$work/.newsrc"
printf 'tidings-test-secret\n' >"$work/.cancelsecret"
chmod 600 "$work/.cancelsecret"
# tin runs "$EDITOR +LINE FILE" and treats an unchanged modification time as "unchanged":
# append to the last argument, then move its time forward.
cat >"$work/editor.sh" <<'EDITOR'
#!/bin/sh
for f; do :; done
printf 'Follow-up body from tin.\n' >>"$f"
touch -d '+2 seconds' "$f"
EDITOR
chmod +x "$work/editor.sh"

cleanup() { tmux -L "$sock" kill-server 2>/dev/null || true; }
trap cleanup EXIT

screen() { tmux -L "$sock" capture-pane -p 2>/dev/null || true; }

# Waits (at most 20 s) until the screen shows $1, then until it is stable for 0.5 s.
wait_for() {
  local want=$1 i prev cur
  for ((i = 0; i < 200; i++)); do
    if screen | grep -qF -- "$want"; then
      prev=$(screen)
      for ((j = 0; j < 40; j++)); do
        sleep 0.5
        cur=$(screen)
        [[ $cur == "$prev" ]] && { printf '=== %s\n%s\n' "$want" "$cur" >>"$log"; return 0; }
        prev=$cur
      done
      return 0
    fi
    sleep 0.1
  done
  printf '=== TIMEOUT waiting for %s\n%s\n' "$want" "$(screen)" >>"$log"
  echo "timed out waiting for: $want" >&2
  return 1
}

key() { tmux -L "$sock" send-keys "$@"; }

tmux -L "$sock" new-session -d -x 200 -y 50 \
  "env HOME='$work' EDITOR='$work/editor.sh' VISUAL='$work/editor.sh' TERM=xterm tin -r -g '$host' -p '$port'; sleep 60"

wait_for "Group Selection"
wait_for "local.test"
key Enter                       # open the group
wait_for "$subject"
key Enter                       # read the first thread
wait_for "Original body text."
key f                           # follow-up (the editor appends a line)
wait_for "p=post"
key p
wait_for "Article posted"
echo "posted"
