import Foundation

extension LabSpec {
    /// Reads a LabSpec document (as `meshlab spec` prints it), turning decoding failures into a
    /// `LabError` that names the field, so a hand-edited or replayed spec fails as clearly as a lab file.
    public static func decode(_ data: Data, file: String) throws(LabErrors) -> LabSpec {
        do {
            return try JSONDecoder().decode(LabSpec.self, from: data)
        } catch let DecodingError.dataCorrupted(context) {
            throw Self.failure(file, context, context.debugDescription)
        } catch let DecodingError.keyNotFound(key, context) {
            throw Self.failure(file, context, "missing field '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(type, context) {
            throw Self.failure(file, context, "expected \(type): \(context.debugDescription)")
        } catch let DecodingError.valueNotFound(type, context) {
            throw Self.failure(file, context, "expected a \(type) value")
        } catch {
            throw LabErrors([LabError(at: SourceLocation(file: file, line: 1), "not a LabSpec document: \(error)",
                                      hint: "produce one with `meshlab spec <lab>`")])
        }
    }

    private static func failure(_ file: String, _ context: DecodingError.Context, _ message: String) -> LabErrors {
        let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        return LabErrors([LabError(at: SourceLocation(file: file, line: 1), "\(path.isEmpty ? "document" : String(path.dropFirst())): \(message)",
                                   hint: "fix the field, or regenerate the document with `meshlab spec <lab>`")])
    }
}
