import Data
import Engine
import Foundation

/// A fresh temporary scratch directory whose `data` subdirectory holds a tiny CIFAR-format data
/// set: five training files of `perFile` records and a test file of `test`. Labels cycle;
/// pixels are a class-dependent brightness plus noise, so the set is learnable but not trivial.
/// Returns the scratch directory (runs go beside the data, never inside it).
func makeTinyDataSet(prefix: String, perFile: Int = 4, test: Int = 6, seed: UInt64 = 1) throws -> URL {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    let directory = scratch.appendingPathComponent("data")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    var serial = 0
    func records(_ n: Int) -> Data {
        var d = Data()
        for _ in 0..<n {
            let label = UInt8(serial % 10)
            d.append(label)
            for p in 0..<CIFAR10.imageBytes {
                let noise = RandomStream.bits(seed: seed, index: UInt64(serial * 4096 + p)) % 40
                d.append(UInt8(truncatingIfNeeded: Int(label) * 20 + Int(noise)))
            }
            serial += 1
        }
        return d
    }
    for name in CIFAR10.trainingFiles { try records(perFile).write(to: directory.appendingPathComponent(name)) }
    try records(test).write(to: directory.appendingPathComponent(CIFAR10.testFiles[0]))
    return scratch
}
