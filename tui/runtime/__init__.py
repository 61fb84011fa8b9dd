"""The headless runtime the monitor drives and the headless commands run: no UI library."""
