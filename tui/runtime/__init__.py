"""The headless runtime: everything the monitor and the headless commands share, with no UI library."""
