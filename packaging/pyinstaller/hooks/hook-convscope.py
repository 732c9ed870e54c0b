"""PyInstaller hook for ConvScope itself.

* Every submodule: the command line imports its subcommands, the window its panels, in
  function bodies and by name (``importlib.import_module``), which the import scan may miss.
* The assets (built-in digits, sample photos, icons) as ``convscope/assets``, where
  ``convscope.resources.assets_dir()`` looks first. They come from the installed package
  (a wheel carries them; the spec refuses a package without them).
* jaxlib's distribution metadata: ``convscope/__init__.py`` reads jaxlib's version with
  importlib.metadata to decide whether XLA knows the flag that keeps convolutions off
  YNNPACK (2.5-3x faster CPU training); without the metadata the bundle would run slower.
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules, copy_metadata

hiddenimports = collect_submodules("convscope", filter=lambda name: ".tests" not in name)
datas = collect_data_files("convscope", includes=["assets/**/*"]) + copy_metadata("jaxlib")
