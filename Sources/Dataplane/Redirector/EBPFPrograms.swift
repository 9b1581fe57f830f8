import Crypto
import Foundation
import Netns

/// The eBPF redirection programs' object file: compiled from the C source shipped with MeshLab
/// (clang -target bpf) on first use, and cached by the source's hash. Never committed compiled.
public enum EBPFPrograms {
    public static let cacheDirectory = ProcessInfo.processInfo.environment["MESHLAB_CACHE_DIR"] ?? "/var/cache/meshlab"

    /// The path of the compiled object, compiling it first when the cache has none for this source.
    public static func object() throws -> String {
        guard let source = Bundle.module.url(forResource: "ambient_redirect", withExtension: "c", subdirectory: "bpf") else {
            throw NetnsError("the eBPF source ambient_redirect.c is missing from MeshLab's resources; rebuild MeshLab")
        }
        let digest = SHA256.hash(data: try Data(contentsOf: source)).prefix(8).map { String(format: "%02x", $0) }.joined()
        let folder = URL(fileURLWithPath: cacheDirectory).appendingPathComponent("bpf")
        let object = folder.appendingPathComponent("ambient_redirect-\(digest).o").path
        if FileManager.default.fileExists(atPath: object) { return object }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        guard let clang = KernelProbe.which("clang") else {
            throw NetnsError("clang is needed to compile the eBPF programs (it ships with the Swift toolchain; or apt-get install clang)")
        }
        var machine = utsname()
        uname(&machine)
        let arch = withUnsafeBytes(of: machine.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let partial = object + ".\(getpid())"
        let compile = try NetnsCommand.runHere(clang, ["-O2", "-g", "-target", "bpf", "-I/usr/include/\(arch)-linux-gnu",
                                                       "-c", source.path, "-o", partial])
        guard compile.status == 0 else {
            throw NetnsError("compiling the eBPF programs failed (is libbpf-dev installed?):\n\(compile.output)")
        }
        guard rename(partial, object) == 0 else { throw NetnsError.errno("cache the eBPF object at \(object)") }
        return object
    }
}
