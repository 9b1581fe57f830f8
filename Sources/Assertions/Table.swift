/// A plain text table with aligned columns, like `kubectl get`.
package struct Table {
    package var header: [String]
    package var rows: [[String]]

    package init(_ header: [String], _ rows: [[String]]) {
        self.header = header
        self.rows = rows
    }

    package func render() -> String {
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
