import Foundation
import TestSupport
import XCTest

/// Issue 13: `ddptrain predict` on real photos. The shared CIFAR-10 JPEG copy
/// (`../shared/data/cifar10-jpeg.tar.gz`) gives both inputs: the JPEG files themselves, and the
/// same images decoded by Pillow into CIFAR binary records (the independent decoder). A model
/// trained on those records must give every JPEG, decoded by ddptrain's libjpeg-turbo, the class
/// `eval` gives its record. Skips, saying so, without the shared copy or Python with Pillow.
final class PredictTests: SystemTestCase {
    static let archive = MPIHarness.repository.deletingLastPathComponent().appendingPathComponent("shared/data/cifar10-jpeg.tar.gz")
    static let images = 500, pngs = 20

    /// Python writing the first `images` test JPEGs of the archive as `<index>_<class>.jpg` into
    /// argv[2] and the same images, decoded by Pillow, as CIFAR binary files into argv[3] (every
    /// training file and the test file hold them all); and the first `pngs` of them as 96×64
    /// PNGs into argv[5]: each pixel doubled (nearest neighbour) with a 16-pixel grey border left
    /// and right, which the resize rule (shorter side to 32 by area averaging, centre crop) maps
    /// back to exactly the original pixels.
    static let sample = """
        import io, os, sys, tarfile
        from PIL import Image
        classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
        archive, jpegs, binary, count, pngs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
        with tarfile.open(archive, "r:gz") as tar:
            members = sorted((m for m in tar if m.isfile() and m.name.startswith("test/") and m.name.endswith(".jpg")), key=lambda m: m.name)
            members = members[::max(1, len(members) // count)][:count]
            records = []
            for i, m in enumerate(members):
                data = tar.extractfile(m).read()
                label = classes.index(m.name.split("/")[1])
                open(os.path.join(jpegs, f"{i:05d}_{classes[label]}.jpg"), "wb").write(data)
                image = Image.open(io.BytesIO(data)).convert("RGB")
                if i < \(pngs):
                    framed = Image.new("RGB", (96, 64), (128, 128, 128))
                    framed.paste(image.resize((64, 64), Image.NEAREST), (16, 0))
                    framed.save(os.path.join(pngs, f"{i:05d}_{classes[label]}.png"))
                r, g, b = image.split()
                records.append(bytes([label]) + r.tobytes() + g.tobytes() + b.tobytes())
        for name in [f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]:
            open(os.path.join(binary, name), "wb").write(b"".join(records))
        """

    /// The sampled JPEG directory, the CIFAR binary directory of the same images, and the PNG directory.
    func sampleImages() throws -> (jpegs: String, binary: String, pngs: String) {
        guard FileManager.default.fileExists(atPath: Self.archive.path) else {
            throw XCTSkip("no shared JPEG copy at \(Self.archive.path)")
        }
        let jpegs = harness.path("jpegs"), binary = harness.path("binary"), pngs = harness.path("pngs")
        for d in [jpegs, binary, pngs] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
        func python(_ arguments: [String]) throws -> TestProcess.Result {
            try TestProcess.run("/usr/bin/env", ["python3"] + arguments, environment: ProcessInfo.processInfo.environment,
                                directory: harness.scratch, log: harness.scratch.appendingPathComponent("python-\(UUID().uuidString).log"))
        }
        if try python(["-c", "import PIL"]).status != 0 {
            _ = try python(["-m", "pip", "install", "-q", "pillow"])
            guard try python(["-c", "import PIL"]).status == 0 else { throw XCTSkip("python3 has no Pillow and pip could not install it") }
        }
        let written = try python(["-c", Self.sample, Self.archive.path, jpegs, binary, "\(Self.images)", pngs])
        XCTAssertEqual(written.status, 0, written.tail)
        return (jpegs, binary, pngs)
    }

    /// The float32 matrix of a `.npy` file that `eval --logits` wrote, as rows.
    static func npyRows(_ path: String, columns: Int) throws -> [[Float]] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let start = 10 + (Int(bytes[8]) | Int(bytes[9]) << 8)
        let values = stride(from: start, to: bytes.count, by: 4).map { i in
            Float(bitPattern: UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
        }
        return stride(from: 0, to: values.count, by: columns).map { Array(values[$0..<($0 + columns)]) }
    }

    /// The JSON objects `predict --json` printed, one per line.
    static func jsonLines(_ output: String) -> [[String: Any]] {
        output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func testPredictOnTheJPEGsGivesEvalsClassesOnTheSameImagesAsCIFARRecordsAndReportsBrokenFilesByName() throws {
        let (jpegs, binary, pngs) = try sampleImages()
        let run = harness.path("run")
        let trained = try harness.single(["train", "--model", "resnet-8", "--stem-channels", "8", "--data", binary, "--run-dir", run,
                                          "--epochs", "3", "--batch-size", "50", "--threads", "2", "--seed", "1"])
        XCTAssertEqual(trained.status, 0, trained.tail)
        let eval = try harness.single(["eval", "--checkpoint", run, "--data", binary, "--logits", harness.path("eval.npy")])
        XCTAssertEqual(eval.status, 0, eval.tail)
        let expected = try Self.npyRows(harness.path("eval.npy"), columns: 10).map { row in row.indices.max { row[$0] < row[$1] }! }
        XCTAssertEqual(expected.count, Self.images)
        XCTAssertGreaterThan(Set(expected).count, 2, "the model answers almost one class: the comparison would prove little")

        // Broken files beside the photos: each gets one line naming it; the photos still run.
        let first = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: jpegs).sorted().first)
        let truncated = try Data(contentsOf: URL(fileURLWithPath: jpegs + "/" + first)).prefix(300)
        try truncated.write(to: URL(fileURLWithPath: jpegs + "/zz-truncated.jpg"))
        try Data("this is text".utf8).write(to: URL(fileURLWithPath: jpegs + "/zz-text.png"))
        try Data().write(to: URL(fileURLWithPath: jpegs + "/zz-empty.jpeg"))
        let predicted = try harness.single(["predict", "--checkpoint", run, "--json", "--top", "2", jpegs])
        XCTAssertEqual(predicted.status, 65, "broken files must make predict exit 65 after the rest:\n\(predicted.tail)")
        let lines = Self.jsonLines(predicted.output)
        XCTAssertEqual(lines.count, Self.images + 3, predicted.tail)
        let classified = lines.filter { $0["top"] != nil }
        XCTAssertEqual(classified.count, Self.images)
        let labels = classified.map { (($0["top"] as? [[String: Any]])?.first?["label"] as? Int) ?? -1 }
        let differing = zip(labels, expected).enumerated().filter { $0.element.0 != $0.element.1 }
        XCTAssertTrue(differing.isEmpty, "predict and eval disagree on \(differing.count) of \(Self.images) images, first \(differing.prefix(3))")
        // 96×64 PNGs of the first images come back to their classes through the resize rule.
        let framed = try harness.single(["predict", "--checkpoint", run, "--json", pngs])
        XCTAssertEqual(framed.status, 0, framed.tail)
        let pngLabels = Self.jsonLines(framed.output).map { (($0["top"] as? [[String: Any]])?.first?["label"] as? Int) ?? -1 }
        XCTAssertEqual(pngLabels, Array(expected.prefix(Self.pngs)), "the resized PNGs are classified otherwise:\n\(framed.tail)")
        for name in ["zz-truncated.jpg", "zz-text.png", "zz-empty.jpeg"] {
            let errors = lines.filter { ($0["path"] as? String)?.hasSuffix(name) == true && $0["error"] != nil }
            XCTAssertEqual(errors.count, 1, "\(name): expected one error line:\n\(predicted.tail)")
            XCTAssertEqual(predicted.output.split(separator: "\n").filter { $0.hasPrefix("predict: ") && $0.contains(name) }.count, 1,
                           "\(name): expected one message on standard error:\n\(predicted.tail)")
        }
    }
}
