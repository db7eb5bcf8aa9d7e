from inboxbot.cli import main

if __name__ == "__main__":  # guarded: worker processes that re-import the main module must not run the CLI
    raise SystemExit(main())
