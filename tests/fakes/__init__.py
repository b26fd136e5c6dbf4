"""Hand-written fakes of the outside systems, run on loopback for the tests."""
