"""One value per event loop: made on first use, kept for that loop, dropped once the loop is closed."""

import asyncio
import threading

from blogsite.per_loop import PerLoop


def test_each_loop_gets_its_own_value_and_keeps_it():
    values: PerLoop[object] = PerLoop()

    async def twice() -> tuple[object, object]:
        return values.get(object), values.get(object)

    first, again = asyncio.run(twice())
    other, _ = asyncio.run(twice())
    assert first is again, "the same loop gets the same value"
    assert other is not first, "another loop gets its own"


def test_a_value_that_is_no_longer_usable_is_made_anew():
    values: PerLoop[dict] = PerLoop()

    async def main() -> None:
        old = values.get(lambda: {"url": "redis://a"})
        new = values.get(lambda: {"url": "redis://b"}, usable=lambda value: value["url"] == "redis://b")
        assert new is not old and values.get(dict) is new

    asyncio.run(main())


def test_closed_loops_are_dropped_and_popped_values_are_gone():
    values: PerLoop[object] = PerLoop()

    async def make() -> object:
        return values.get(object)

    for _ in range(3):
        asyncio.run(make())

    async def pop_and_peek() -> tuple[object, object, object]:
        made = values.get(object)
        return made, values.pop(), values.current()

    made, popped, after = asyncio.run(pop_and_peek())
    assert popped is made and after is None
    assert len(values._values) == 0, "the values of the closed loops went when a new one was made"
    assert values.current() is None, "outside a loop there is no value"


def test_threads_running_loops_at_once_each_get_their_own():
    values: PerLoop[object] = PerLoop()
    seen: list[object] = []
    start = threading.Barrier(4)

    def run() -> None:
        async def main() -> None:
            start.wait()
            seen.append(values.get(object))

        asyncio.run(main())

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len({id(value) for value in seen}) == 4
