import Foundation
import TestSupport
import XCTest
@testable import Data

/// Per-channel mean and population standard deviation, in pixel/255 units.
final class NormalizationTests: XCTestCase {
    func testTinySetMatchesAHandComputation() {
        // Image 0: R all 0, G all 255, B alternating 0 and 255. Image 1: R all 255, G all 255, B all 51.
        let plane = 1024
        var pixels: [UInt8] = []
        pixels += [UInt8](repeating: 0, count: plane)
        pixels += [UInt8](repeating: 255, count: plane)
        pixels += (0..<plane).map { $0 % 2 == 0 ? 0 : 255 }
        pixels += [UInt8](repeating: 255, count: plane)
        pixels += [UInt8](repeating: 255, count: plane)
        pixels += [UInt8](repeating: 51, count: plane)
        let n = Normalization.compute(from: ImageSet(pixels: pixels, labels: [0, 1]))
        // R: half 0, half 1 → mean ½, std ½. G: all 1 → std 0.
        // B: ¼ of the values 1, ½ of them 0.2, ¼ 0 → mean 0.35, E[x²] = 0.27, var = 0.27 − 0.1225.
        XCTAssertEqual(n.mean[0], 0.5, accuracy: 1e-7)
        XCTAssertEqual(n.std[0], 0.5, accuracy: 1e-7)
        XCTAssertEqual(n.mean[1], 1, accuracy: 1e-7)
        XCTAssertEqual(n.std[1], 0, accuracy: 1e-7)
        XCTAssertEqual(n.mean[2], 0.35, accuracy: 1e-7)
        XCTAssertEqual(n.std[2], Float((0.27 - 0.1225).squareRoot()), accuracy: 1e-7)
    }

    func testMatchesATwoPassComputationOnVariedImages() {
        let set = CIFARFixture.imageSet(0..<7)
        let n = Normalization.compute(from: set)
        for c in 0..<3 {
            var values: [Double] = []
            for i in 0..<set.count {
                for k in 0..<1024 { values.append(Double(set.pixels[i * 3072 + c * 1024 + k]) / 255) }
            }
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count)
            XCTAssertEqual(Double(n.mean[c]), mean, accuracy: 1e-6)
            XCTAssertEqual(Double(n.std[c]), variance.squareRoot(), accuracy: 1e-6)
        }
    }

    func testRoundTripsThroughJSON() throws {
        let n = Normalization(mean: [0.49, 0.48, 0.45], std: [0.25, 0.24, 0.26])
        let decoded = try JSONDecoder().decode(Normalization.self, from: JSONEncoder().encode(n))
        XCTAssertEqual(decoded, n)
    }
}
