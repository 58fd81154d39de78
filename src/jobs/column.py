# The column's example, timed: split 1..N into WORKERS parts and sum each in a Process (as the
# column writes it, the sums are lost), the fix with Pool.map, and sum() in one process.
# Prints one line of JSON. Run by `ipc-lab job --compare-as` with the job's sizes.
import json, multiprocessing, sys, time

def calculate_sum(arr):
    return sum(arr)

def main():
    n, workers = int(sys.argv[1]), int(sys.argv[2])
    arr = list(range(1, n + 1))
    parts = [arr[i * n // workers:(i + 1) * n // workers] for i in range(workers)]
    t = time.perf_counter()
    procs = [multiprocessing.Process(target=calculate_sum, args=(p,)) for p in parts]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    as_written = time.perf_counter() - t
    t = time.perf_counter()
    with multiprocessing.Pool(workers) as pool:
        total = sum(pool.map(calculate_sum, parts))
    pool_map = time.perf_counter() - t
    t = time.perf_counter()
    one = sum(arr)
    one_process = time.perf_counter() - t
    print(json.dumps({
        "python": sys.version.split()[0],
        "start_method": multiprocessing.get_start_method(),
        "as_written_s": as_written,
        "pool_map_s": pool_map,
        "pool_map_sum": str(total),
        "one_process_s": one_process,
        "one_process_sum": str(one),
    }))

if __name__ == "__main__":
    main()
