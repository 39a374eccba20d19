"""The test bench page (``bench.html``): scenarios, the conformance check and fleets
against a CSMS, run from the browser tab.  Views only: the state they show is in
``console/model`` (``run_log``, ``bench_form``, ``fleet_live``), tested in CPython."""
