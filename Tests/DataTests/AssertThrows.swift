import XCTest
@testable import Data

/// Checks that `body` throws exactly `expected` and that the error's message mentions each of
/// `phrases` (so the message names what is wrong, not only the case).
func assertThrows<E: Error & Equatable>(_ expected: E, messageMentions phrases: [String],
                                         file: StaticString = #filePath, line: UInt = #line,
                                         _ body: () throws -> Void) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
        XCTAssertEqual(error as? E, expected, file: file, line: line)
        let message = String(describing: error)
        for phrase in phrases {
            XCTAssertTrue(message.contains(phrase), "'\(message)' does not mention '\(phrase)'", file: file, line: line)
        }
    }
}

/// Checks that loading `split` of `dataset` from `directory` throws exactly `expected`, with a message that
/// mentions each of `phrases`.
func assertLoad(directory: String, split: DatasetSplit, dataset: Dataset = .cifar10, throws expected: DataError,
                messageMentions phrases: [String], file: StaticString = #filePath, line: UInt = #line) {
    assertThrows(expected, messageMentions: phrases, file: file, line: line) {
        _ = try ImageSet.load(directory: directory, split: split, dataset: dataset)
    }
}
