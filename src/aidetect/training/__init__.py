"""Training shared by the PyTorch detectors (cnn, efficientnet): one loop, one augmentation.

Needs the ``torch`` extra: ``pip install 'aidetect-images[torch]'``.
"""
