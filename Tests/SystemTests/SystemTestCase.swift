import Foundation
import TestSupport
import XCTest

/// The base of the system tests that launch the release binary: a fresh `MPIHarness` per test
/// (the test skips when the binary or `mpirun` is missing), and the background jobs a test
/// starts, SIGKILLed with everything they started if they still run when the test ends.
class SystemTestCase: XCTestCase {
    /// The current test's harness: binary, `mpirun`, scratch directory.
    var harness: MPIHarness!
    /// Background jobs of the current test, killed in `tearDown` if still running.
    var jobs: [BackgroundJob] = []

    override func setUpWithError() throws {
        try super.setUpWithError()
        harness = try MPIHarness()
    }

    override func tearDown() {
        endJobs()
        harness?.cleanUp()
        harness = nil
        super.tearDown()
    }

    /// SIGKILLs every background job of the test that still runs, with what it started.
    func endJobs() {
        for job in jobs { job.killEverything() }
        jobs = []
    }

    /// Starts `executable` in the background in the scratch directory; `tearDown` ends it.
    func startInBackground(_ executable: String, _ arguments: [String],
                           environment: [String: String] = MPIHarness.singleProcessEnvironment) throws -> BackgroundJob {
        let job = try BackgroundJob(executable, arguments, environment: environment, directory: harness.scratch)
        jobs.append(job)
        return job
    }
}
