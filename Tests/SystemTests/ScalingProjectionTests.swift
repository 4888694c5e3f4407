import Foundation
import TestSupport
import XCTest

/// `Cluster/testing/project-scaling.py`, the projection of Docs/distributed.md ("Projection to 8,
/// 32 and 128 nodes"): its numbers follow the α-β formulas of the algorithms Open MPI runs, the
/// settings change what they should, and the doc's table is the script's output. Needs `python3`
/// only (no MPI, no release binary); skips without it.
final class ScalingProjectionTests: XCTestCase {
    static let script = TestBinaries.repository.appendingPathComponent("Cluster/testing/project-scaling.py").path

    /// Runs the script with `arguments` and `--format json`, returning its rows.
    func rows(_ arguments: [String]) throws -> [[String: Any]] {
        let result = try run(arguments + ["--format", "json"])
        XCTAssertEqual(result.status, 0, result.output + result.error)
        let data = Data(result.output.utf8)
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [[String: Any]], result.output)
    }

    func run(_ arguments: [String]) throws -> TestProcess.Result {
        guard let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("python3 is not installed")
        }
        return try TestProcess.run(python, [Self.script] + arguments, separateError: true, timeout: 60)
    }

    func double(_ row: [String: Any], _ key: String) -> Double { (row[key] as? NSNumber)?.doubleValue ?? .nan }

    /// The gradient buckets' all-reduce costs what each forced algorithm's formula says, bucket by
    /// bucket: resnet-20's 1,078,888 fp32 bytes in 1 MiB buckets are 1,048,576 + 30,312 bytes.
    func testGradientAllReduceFollowsEachAlgorithmsFormula() throws {
        let alpha = 0.25e-3, beta = 8.0 / 10e9
        let buckets = [1_048_576.0, 30_312.0]
        let formulas: [(String, (Double, Double) -> Double)] = [
            ("rabenseifner", { n, s in 2 * log2(n) * alpha + 2 * (n - 1) / n * s * beta }),
            ("ring", { n, s in 2 * (n - 1) * alpha + 2 * (n - 1) / n * s * beta }),
            ("recursive_doubling", { n, s in log2(n) * (alpha + s * beta) }),
            ("binomial", { n, s in 2 * log2(n) * (alpha + s * beta) }),
        ]
        for (algorithm, formula) in formulas {
            let rows = try rows(["--model", "resnet-20", "--nodes", "8,128", "--link", "10gbit", "--alpha-ms", "0.25",
                                 "--overlap", "1", "--eager-bytes", "0", "--grad-algorithm", algorithm,
                                 "--compute", "resnet-20=126.5:89"])
            XCTAssertEqual(rows.count, 2)
            for row in rows {
                let n = double(row, "nodes")
                XCTAssertEqual(row["buckets"] as? [Int], [1_048_576, 30_312])
                XCTAssertEqual(row["grad_algorithms"] as? [String], [algorithm])
                let expected = buckets.map { formula(n, $0) }.reduce(0, +) * 1e3
                XCTAssertEqual(double(row, "grad_ms"), expected, accuracy: 1e-9, "\(algorithm) at \(n) nodes")
                // Only the last bucket is exposed: the first one fits in the 89 ms backward (--overlap 1).
                XCTAssertEqual(double(row, "grad_exposed_ms"), formula(n, 30_312) * 1e3, accuracy: 1e-9, algorithm)
            }
        }
        // With TCP's 64 KiB eager limit every round that carries 64 KiB or more pays a rendezvous
        // round trip (2α): at 8 nodes the 1 MiB bucket's Rabenseifner has 3 such rounds in each
        // half (512, 256, 128 KiB), recursive doubling and binomial all of theirs (3 and 6).
        for (algorithm, handshakes) in [("rabenseifner", 6.0), ("recursive_doubling", 3.0), ("binomial", 6.0)] {
            let arguments = ["--model", "resnet-20", "--nodes", "8", "--alpha-ms", "0.25", "--grad-algorithm", algorithm]
            let with = try XCTUnwrap(rows(arguments).first), without = try XCTUnwrap(rows(arguments + ["--eager-bytes", "0"]).first)
            XCTAssertEqual(double(with, "grad_ms") - double(without, "grad_ms"), handshakes * 2 * 0.25, accuracy: 1e-9, algorithm)
        }
        // Open MPI's own choice for the in-place MPI_Iallreduce is the binomial one.
        let chosen = try rows(["--model", "resnet-20", "--nodes", "128", "--alpha-ms", "0.25"])
        XCTAssertEqual(chosen.first?["grad_algorithms"] as? [String], ["binomial"])
    }

    /// Synchronised batch norm at 8 nodes is 19 layers × 2 directions of recursive doubling
    /// (3 rounds, all messages under 8 KB); `local` costs nothing; K micro-batches multiply compute
    /// and batch norm by K but not the gradient all-reduce; bf16 halves the gradient's bytes.
    func testBatchNormAccumulationAndBF16FollowTheModel() throws {
        let base = ["--model", "resnet-20", "--nodes", "8", "--alpha-ms", "0.25", "--compute", "resnet-20=100:60"]
        let batch = try XCTUnwrap(rows(base + ["--bn-sync", "batch"]).first)
        XCTAssertEqual(double(batch, "bn_ms"), 19 * 2 * 3 * 0.25, accuracy: 1e-9)
        XCTAssertEqual(double(batch, "vote_ms"), 3 * 0.25 + 3 * 16 * 8.0 / 10e9 * 1e3, accuracy: 1e-9)
        let step = 100 + double(batch, "bn_ms") + double(batch, "grad_exposed_ms") + double(batch, "vote_ms")
        XCTAssertEqual(double(batch, "step_ms"), step, accuracy: 1e-9)
        XCTAssertEqual(double(batch, "efficiency"), 100 / step, accuracy: 1e-12)

        let local = try XCTUnwrap(rows(base + ["--bn-sync", "local"]).first)
        XCTAssertEqual(double(local, "bn_ms"), 0)
        XCTAssertGreaterThan(double(local, "efficiency"), double(batch, "efficiency"))

        let accumulated = try XCTUnwrap(rows(base + ["--bn-sync", "batch", "--accumulate-steps", "4"]).first)
        XCTAssertEqual(double(accumulated, "compute_ms"), 400, accuracy: 1e-9)
        XCTAssertEqual(double(accumulated, "bn_ms"), 4 * double(batch, "bn_ms"), accuracy: 1e-9)
        XCTAssertEqual(double(accumulated, "grad_ms"), double(batch, "grad_ms"), accuracy: 1e-12)

        let bf16 = try XCTUnwrap(rows(base + ["--allreduce-dtype", "bf16"]).first)
        XCTAssertEqual(double(bf16, "gradient_bytes"), 269_722 * 2)
        XCTAssertEqual(double(batch, "gradient_bytes"), 269_722 * 4)
        XCTAssertLessThan(double(bf16, "grad_ms"), double(batch, "grad_ms"))
    }

    /// Open MPI 4.1's fixed rules as Cluster/testing/coll-trace.c observed them on the simulated
    /// cluster (Docs/distributed.md): at 2 ranks 4 KB goes to the ring and 1 MiB to Rabenseifner, at
    /// 8 ranks 256 B to recursive doubling and 16 KB on to Rabenseifner; at 128 ranks (the
    /// projection's largest job) small messages take reduce + broadcast.
    func testOpenMPIsRulesAsObserved() throws {
        let python = """
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("p", sys.argv[1]); p = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(p)
        for ranks, size in [(2, 256), (2, 4096), (2, 8192), (2, 1048576), (4, 4096), (4, 16384), (8, 256), (8, 4096),
                            (8, 16384), (8, 1048576), (128, 1032), (128, 1048576)]:
            print(ranks, size, p.tuned_allreduce_algorithm(ranks, size))
        print("nbc", p.libnbc_iallreduce_algorithm(8, 1048576), p.libnbc_iallreduce_algorithm(8, 1048576, in_place=False))
        """
        guard let interpreter = ["/usr/bin/python3", "/usr/local/bin/python3"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("python3 is not installed")
        }
        let result = try TestProcess.run(interpreter, ["-c", python, Self.script], separateError: true, timeout: 60)
        XCTAssertEqual(result.status, 0, result.error)
        XCTAssertEqual(result.output.split(separator: "\n").map(String.init), [
            "2 256 recursive_doubling", "2 4096 ring", "2 8192 recursive_doubling", "2 1048576 rabenseifner",
            "4 4096 recursive_doubling", "4 16384 rabenseifner", "8 256 recursive_doubling", "8 4096 recursive_doubling",
            "8 16384 rabenseifner", "8 1048576 rabenseifner", "128 1032 nonoverlapping", "128 1048576 rabenseifner",
            "nbc binomial rabenseifner",
        ])
    }

    /// Every row of the projection tables in Docs/distributed.md is what the script prints for the
    /// command written above it, so the doc and the script cannot drift apart.
    func testDocumentedProjectionTablesAreTheScriptsOutput() throws {
        let doc = try String(contentsOf: TestBinaries.repository.appendingPathComponent("Docs/distributed.md"), encoding: .utf8)
        // The commands are the doc's, in lines starting with `Cluster/testing/project-scaling.py`.
        let commands = doc.split(separator: "\n").map(String.init)
            .filter { $0.hasPrefix("Cluster/testing/project-scaling.py ") }
        XCTAssertGreaterThanOrEqual(commands.count, 2, "the doc shows the projection commands")
        for command in commands {
            let arguments = command.split(separator: " ").dropFirst().map(String.init)
            let result = try run(arguments)
            XCTAssertEqual(result.status, 0, command + "\n" + result.error)
            let tableRows = result.output.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| model") }
            XCTAssertFalse(tableRows.isEmpty, command)
            for row in tableRows {
                XCTAssertTrue(doc.contains(row), "Docs/distributed.md lacks this row of `\(command)`:\n\(row)")
            }
        }
    }
}
