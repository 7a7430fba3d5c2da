"""Allow ``python -m ringpush``."""

from ringpush.cli import main

if __name__ == "__main__":
    main()
