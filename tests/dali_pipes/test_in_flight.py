"""dali_pipes.in_flight: objects are let go once the work queued before them has run, in order."""
from attention_swap_reid.dali_pipes.in_flight import InFlight


class FakeEvent:
    """An event the test completes by hand (`done` holds the indices of the finished ones)."""

    made: list = []
    done: set = set()

    def __init__(self):
        self.index = len(FakeEvent.made)
        FakeEvent.made.append(self)
        self.recorded = False

    def record(self):
        self.recorded = True

    def query(self):
        return self.index in FakeEvent.done


def test_held_objects_go_once_their_work_has_run_in_order():
    FakeEvent.made, FakeEvent.done = [], set()
    flight = InFlight(FakeEvent)
    flight.hold("batch 0")
    flight.hold("batch 1")
    assert len(flight) == 2 and all(e.recorded for e in FakeEvent.made)
    FakeEvent.done = {1}  # the later one reports done first: the earlier still holds both
    flight.hold("batch 2")
    assert len(flight) == 3
    FakeEvent.done = {0, 1}
    flight.hold("batch 3")
    assert [objects for _, objects in flight._held] == ["batch 2", "batch 3"]
