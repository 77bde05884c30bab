"""Jobs as objects: a Workspace shared by consecutive jobs, start()/test()/wait(), job.stats and
job.report(json_path=...), and jobs on sub-communicators running side by side."""

import io
import json
import os

import pytest

import mpimr
from helpers import committed_parts, gathered_items, merged, parse_text, split_words, text_counts


def test_workspace_reused_by_consecutive_jobs(comm):
    """Jobs made one after another with one Workspace (each closed before the next) take its
    communicator and shuffle: reuses counts them; each job's result is right."""
    rank = comm.Get_rank()
    with mpimr.Workspace() as workspace:
        assert workspace.reuses == 0
        history = []
        for step in range(4):
            def emit_multiples(start, stop, emit, step=step):
                for i in range(start, stop):
                    emit(i % 5, (i + 1) * (step + 1))

            result = mpimr.Dataset()
            job = mpimr.Job(comm, map_local=emit_multiples, local_count=10 + rank, reduce="sum_u64",
                            output_dataset=result, workspace=workspace)
            with job:
                job.run()
            history.append(workspace.reuses)
            got = {mpimr.key_u64(k): mpimr.u64(v) for k, v in merged(gathered_items(comm, result)).items()}
            expected = {}
            for r in range(comm.Get_size()):
                for i in range(10 + r):
                    expected[i % 5] = expected.get(i % 5, 0) + (i + 1) * (step + 1)
            assert got == expected
        assert history == [0, 1, 2, 3]


def test_workspace_close_with_open_job(comm):
    """A workspace refuses to close while a job made with it is open."""
    workspace = mpimr.Workspace()
    job = mpimr.Job(comm, map_local=lambda start, stop, emit: emit(b"k", stop - start), local_count=3,
                    reduce="sum_u64", output_format="none", workspace=workspace)
    with pytest.raises(RuntimeError, match="close the jobs"):
        workspace.close()
    job.run()
    assert comm.allreduce(job.stats["keys_reduced"]) == 1
    job.close()
    workspace.close()


def test_start_test_wait(comm, corpus, outdir):
    """start() then test() in a loop until True; start() then wait(); both give the full result. A job
    runs once; test() before start() is an error."""
    job = mpimr.Job(comm, inputs=[corpus.dir], map_block=split_words, reduce="sum_u64",
                    output_dir=outdir("test"), read_bytes=16384)
    with pytest.raises(RuntimeError, match="not started"):
        job.test()
    assert job.start() is job
    polls = 0
    while not job.test():
        polls += 1
        assert polls < 1_000_000
    assert text_counts(comm, outdir("test")) == dict(corpus.words)
    with pytest.raises(RuntimeError, match="runs once"):
        job.start()
    job.close()

    job = mpimr.Job(comm, inputs=[corpus.dir], map_block=split_words, reduce="sum_u64",
                    output_dir=outdir("wait"))
    assert job.start().wait() is job
    assert text_counts(comm, outdir("wait")) == dict(corpus.words)
    job.close()


def test_stats_and_report(comm, corpus, outdir):
    """job.stats: this rank's figures, which add up over the ranks to what the corpus holds;
    job.report(): the summary line on rank 0 only; json_path: every rank's figures, in a file that
    parses."""
    rank, size = comm.Get_rank(), comm.Get_size()
    job = mpimr.run(comm, inputs=[corpus.dir], map=lambda record, emit: emit.many(record.split(), 1),
                    reduce="sum_u64", output_dir=outdir())
    stats = job.stats
    assert comm.allreduce(stats["input_bytes"]) == corpus.total_bytes
    assert comm.allreduce(stats["input_records"]) == len(corpus.records)
    assert comm.allreduce(stats["pairs_emitted"]) == sum(corpus.words.values())
    assert comm.allreduce(stats["keys_reduced"]) == len(corpus.words)
    assert comm.allreduce(stats["pairs_output"]) == len(corpus.words)
    assert stats["time_total"] >= stats["time_map"] >= 0
    parts = committed_parts(comm, outdir())
    assert stats["pairs_output"] == len(parse_text(parts[rank]))
    assert stats["bytes_output"] == len(parts[rank])

    text = io.StringIO()
    json_path = os.path.join(os.path.dirname(outdir()), f"{os.path.basename(outdir())}.json")
    job.report(file=text, json_path=json_path)
    if rank == 0:
        assert text.getvalue().startswith(f"mpimr: {size} rank")
        with open(json_path) as f:
            report = json.load(f)
        assert report["nranks"] == size
        assert [r["rank"] for r in report["ranks"]] == list(range(size))
        figures = comm.gather(stats)
        for entry, figure in zip(report["ranks"], figures):
            for name in ("input_bytes", "input_records", "pairs_emitted", "keys_reduced", "pairs_output"):
                assert entry[name] == figure[name]
    else:
        assert text.getvalue() == ""
        comm.gather(stats)
    job.close()


@pytest.mark.parametrize("dynamic", [True, False])
def test_dynamic_map_setting(comm, corpus, outdir, dynamic):
    """dynamic_map (True by default): the same counts either way, every record mapped once
    (emit.origin() names each), and with False no chunk moves and each rank maps exactly the bytes
    of its static share; chunks taken and given add up over the ranks."""
    seen = []

    def words(record, emit):
        seen.append(emit.origin())
        emit.many(record.split(), 1)

    job = mpimr.run(comm, inputs=[corpus.dir], map=words, reduce="sum_u64", output_dir=outdir(),
                    dynamic_map=dynamic)
    assert text_counts(comm, outdir()) == dict(corpus.words)
    origins = sorted(o for rank_seen in comm.allgather(seen) for o in rank_seen)
    assert origins == sorted((path, offset) for path, offset, _ in corpus.records)
    stats = job.stats
    assert comm.allreduce(stats["chunks_taken"]) == comm.allreduce(stats["chunks_given"])
    if not dynamic:
        assert stats["chunks_taken"] == stats["chunks_given"] == 0
        total, rank, size = corpus.total_bytes, comm.Get_rank(), comm.Get_size()
        # The static split cuts the bytes of all files evenly; records belong where they start,
        # so a rank's bytes are its share give or take a line.
        share = total * (rank + 1) // size - total * rank // size
        longest = max(len(record) + 1 for _, _, record in corpus.records)
        assert abs(stats["input_bytes"] - share) <= longest
    job.close()


def test_jobs_on_split_communicators(comm, corpus, outdir):
    """COMM_WORLD.Split(rank % 2): each half runs its own job at the same time, on its own output
    directory; each result is checked against its own oracle."""
    rank = comm.Get_rank()
    color = rank % 2
    half = comm.Split(color, rank)
    try:
        path = outdir(f"half{color}")
        if color == 0:  # word counts
            job = mpimr.run(half, inputs=[corpus.dir], map_block=split_words, reduce="sum_u64",
                      output_dir=path, read_bytes=16384)
            assert text_counts(half, path) == dict(corpus.words)
        else:  # records by length, and the sum of their word counts, in the other half
            def by_length(record, emit):
                emit(b"%d" % len(record), len(record.split()))

            job = mpimr.run(half, inputs=corpus.files, map=by_length, reduce="sum_u64", output_dir=path)
            expected = {}
            for _, _, record in corpus.records:
                key = b"%d" % len(record)
                expected[key] = expected.get(key, 0) + len(record.split())
            assert text_counts(half, path) == expected
        assert half.Get_size() == (comm.Get_size() + 1 - color) // 2
        assert len(committed_parts(half, path)) == half.Get_size()  # a part per rank of the half
        # The half's ranks read the whole input between them.
        assert half.allreduce(job.stats["input_bytes"]) == corpus.total_bytes
        job.close()
    finally:
        half.Free()
