"""Built-in detectors. Each module registers itself through the plugin hook."""
