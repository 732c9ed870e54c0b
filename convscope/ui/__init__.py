"""The Qt side of ConvScope (PySide6, pyqtgraph, superqt): it only draws and sends.

* ``worker.TrainingWorkerBridge`` runs the training loop's event generator on a
  worker thread and re-emits each event as a Qt signal on the GUI thread;
* ``session.Session`` is what the GUI knows about the run (state, running
  architecture and configuration, the architecture being edited) and the one place
  commands to the loop are sent from;
* ``main_window.MainWindow`` wraps every panel in a dock; ``app.run_gui`` starts it all.

Adding a panel: write a QWidget class with ``title``, ``area`` ("left", "right",
"bottom" or "top"; optionally ``tab_with = "Training"``) and ``__init__(self, session)``
that connects to ``session`` / ``session.bridge`` signals and draws on a timer, then
append the class to ``main_window.PANELS``.
"""
