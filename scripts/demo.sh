#!/usr/bin/env bash
# `make run`: initialise a data dir (once), then show inheritance, overrides and `run` at work.
set -euo pipefail
: "${STACKSAFE_DATA_DIR:?set STACKSAFE_DATA_DIR}"

if [ ! -f "$STACKSAFE_DATA_DIR/stacksafe.db" ]; then
  stacksafe init
  stacksafe accounts create demo
  stacksafe stacks create web --account demo --environment production
  printf 'account-wide-password' | stacksafe secrets set DATABASE_PASSWORD --account demo --stdin
  stacksafe secrets set API_KEY=demo-api-key --stack web --account demo
fi

echo
echo "== effective secrets of stack 'web' (values masked) =="
stacksafe secrets list --stack web --account demo
echo
echo "== one secret as JSON, revealed =="
stacksafe secrets get DATABASE_PASSWORD --stack web --account demo --reveal
echo
echo "== stacksafe run: the secrets reach a child process's environment =="
stacksafe run --stack web --account demo -- sh -c 'echo "API_KEY is ${#API_KEY} characters long"'
echo
echo "Data dir: $STACKSAFE_DATA_DIR   (the owner's first token was printed by init, above)"
echo "Locally:  export STACKSAFE_DATA_DIR=$STACKSAFE_DATA_DIR PATH=$(pwd)/.venv/bin:\$PATH"
echo "          stacksafe secrets list --stack web --reveal"
echo "A token:  stacksafe tokens create --user owner@localhost --scope public --scope admin"
echo "Remote:   export STACKSAFE_ADDR=http://127.0.0.1:${PORT:-8200} STACKSAFE_TOKEN=<token>"
echo
echo "Starting the server (Ctrl-C stops it)..."
