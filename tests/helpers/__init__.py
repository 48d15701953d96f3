"""Helpers the tests share: test images, camera footage, the MNIST test set."""
